import type { BackupService } from '../backup/service.js';
import { asDbwardenError } from '../core/errors.js';
import type { Notifier } from '../core/notifier.js';
import type { Report } from '../core/report.js';
import { snapshotFromStatus } from '../core/snapshot.js';
import type { DbStatus } from '../core/status.js';
import type { GuardConfig } from '../guard/guard.js';
import { baselineSnapshot } from '../guard/watch-state.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BackupManifest } from '../store/manifest.js';
import { dataLossWarnings, rememberFirstSight } from './baseline.js';
import { hasDestructive, lintSql } from './migration-lint.js';
import type { PendingSql } from './pending-sql.js';
import {
  ALLOW_DESTRUCTIVE,
  PREFLIGHT_EXIT,
  type PreflightOptions,
  type PreflightResult,
  preflightReport,
} from './preflight-report.js';

export interface PreflightDeps {
  /** The database and dbwarden's memory of it; null when none is configured: the pending SQL is only linted. */
  database: {
    status: (signal: AbortSignal) => Promise<DbStatus>;
    /** Where the remembered baseline lives; null when the store could not be opened. */
    store: BlobStore | null;
    backups: Pick<BackupService, 'run'> | null;
    guardConfig: GuardConfig;
  } | null;
  /** The pending migrations' SQL (files, Django, or a remote client's request); null when none was asked for. */
  pending: ((timeoutMs: number) => Promise<PendingSql[]>) | null;
  /** The team channel; null: nothing is posted (no database, so no channel either). */
  notifier: Notifier | null;
  environment: string;
  clock: () => Date;
}

/** What a preflight runs against: the services main.ts builds, for `dbwarden preflight` and `serve` alike. */
export interface PreflightHost {
  status(): Promise<DbStatus>;
  readonly store: BlobStore | null;
  readonly backups: Pick<BackupService, 'run' | 'running'> | null;
  readonly notifier: Notifier;
  readonly guardConfig: GuardConfig;
  readonly clock: () => Date;
  readonly config: { environment: string; deploy: { allowDestructive: boolean } };
}

/** One preflight as asked for, locally (flags) or remotely (POST /preflight). */
export interface PreflightRequest {
  pending: PreflightDeps['pending'];
  strict: boolean;
  backup: boolean;
  /** This deploy's DBWARDEN_ALLOW_DESTRUCTIVE (the app's environment); the service's own setting counts too. */
  allowDestructive: boolean;
  timeoutMs: number;
}

/**
 * THE preflight, whoever asks: the CLI and POST /preflight both call this, so a remote verdict is the local one.
 * With no host (no DATABASE_URL) the pending SQL is linted and nothing else is checked or posted.
 */
export function preflightOn(
  host: PreflightHost | null,
  req: PreflightRequest,
  lintOnly: { environment: string; clock: () => Date } = { environment: 'none', clock: () => new Date() },
): Promise<{ result: PreflightResult; report: Report }> {
  return runPreflight(
    {
      database: host
        ? {
            status: () => host.status(),
            store: host.store,
            backups: host.backups,
            guardConfig: host.guardConfig,
          }
        : null,
      pending: req.pending,
      notifier: host?.notifier ?? null,
      environment: host?.config.environment ?? lintOnly.environment,
      clock: host?.clock ?? lintOnly.clock,
    },
    {
      strict: req.strict,
      backup: req.backup,
      allowDestructive: req.allowDestructive || Boolean(host?.config.deploy.allowDestructive),
      timeoutMs: req.timeoutMs,
    },
  );
}

class OutOfTime extends Error {}

/** Reachability, identity against the remembered one, pending SQL linted, a backup when destructive; then one post. */
export async function runPreflight(
  deps: PreflightDeps,
  opts: PreflightOptions,
): Promise<{ result: PreflightResult; report: Report }> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  // The post gets the last part of the time, so a slow step cannot eat it.
  const postReserve = Math.min(5000, Math.floor(opts.timeoutMs / 5));
  const stepLeft = () => Math.max(0, deadline - postReserve - Date.now());
  const abort = new AbortController();
  const within = <T>(what: string, p: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const ms = stepLeft();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p(abort.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new OutOfTime(`ran out of time (--timeout ${Math.round(opts.timeoutMs / 1000)} s) while ${what}`),
          );
        }, ms);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  const problems: string[] = [];
  const blocking: string[] = [];
  const fail = (err: unknown) => {
    const e = err instanceof OutOfTime ? err : asDbwardenError(err);
    problems.push(e.message);
  };

  const result: PreflightResult = {
    verdict: 'pass',
    exitCode: 0,
    database: {
      display: '',
      reachable: false,
      state: deps.database ? 'unknown' : 'none',
      identity: null,
      remembered: null,
      dataLoss: [],
    },
    pending: [],
    findings: [],
    destructive: false,
    backup: null,
    blocking,
    problems,
    posted: false,
  };

  // 1. The database: reachable, and the one dbwarden remembers?
  let status: DbStatus | null = null;
  const db = deps.database;
  try {
    if (db) status = await within('checking the database', (signal) => db.status(signal));
    if (status) {
      result.database.display = status.target.display;
      result.database.reachable = status.reachable;
      result.database.identity = status.identity;
      if (!status.reachable) {
        result.database.state = 'unreachable';
        blocking.push(`The database does not answer: ${status.error?.message ?? 'unknown error'}`);
      }
    }
  } catch (err) {
    fail(err);
  }
  if (db && status?.reachable) {
    const reading = status;
    try {
      if (!db.store)
        throw new Error('the store is not available: cannot compare with the remembered database');
      const store = db.store;
      const before = await within('reading the remembered database', () => baselineSnapshot(store));
      const current = snapshotFromStatus(reading);
      if (!before) {
        result.database.state = 'first-seen';
        await within('remembering the database', () => rememberFirstSight(store, reading));
      } else if (current) {
        result.database.remembered = before.identity;
        const warnings = await within('comparing with the remembered database', () =>
          dataLossWarnings(store, before, current, db.guardConfig, deps.clock()),
        );
        result.database.dataLoss = warnings.map((w) => ({
          code: w.code,
          title: w.title,
          message: w.message,
          details: w.details,
          restore: w.wayBack?.command ?? null,
        }));
        // The guard's baseline is left alone: a replaced or emptied database never becomes the new normal here.
        const replaced = warnings.find((w) => w.code === 'database-replaced');
        const emptied = warnings.find((w) => w.code === 'database-emptied');
        result.database.state = replaced ? 'replaced' : emptied ? 'emptied' : 'same';
        for (const w of [replaced, emptied]) if (w) blocking.push(`${w.title}: ${w.message}`);
      }
    } catch (err) {
      fail(err);
    }
  }

  // 2. Pending migrations, linted by PostgreSQL's own parser.
  if (deps.pending) {
    const pending = deps.pending;
    try {
      const sql = await within('reading the pending migrations', () => pending(stepLeft()));
      result.pending = sql.map((p) => p.source);
      for (const p of sql) result.findings.push(...(await lintSql(p.sql, { source: p.source })));
    } catch (err) {
      fail(err);
    }
  }
  result.destructive = hasDestructive(result.findings);
  if (result.destructive && !opts.allowDestructive)
    blocking.push(
      `Destructive statements are pending (listed above); set ${ALLOW_DESTRUCTIVE}=1 for this deploy once a person has checked them.`,
    );

  // 3. A backup before anything destructive runs (or always, with --backup).
  if (db && (result.destructive || opts.backup) && status?.reachable) {
    if (!db.backups)
      problems.push('Backups are not available in this dbwarden: no pre-migration backup was taken.');
    else {
      const backups = db.backups;
      try {
        const m: BackupManifest = await within('taking the pre-migration backup', (signal) =>
          backups.run({ requestedBy: 'preflight', signal }),
        );
        result.backup = { id: m.id, sizeBytes: m.sizeBytes, verified: m.verified };
      } catch (err) {
        abort.abort();
        fail(err);
      }
    }
  }
  abort.abort();

  const blocked = blocking.length > 0;
  const warned = problems.length > 0 || result.findings.length > 0 || result.database.dataLoss.length > 0;
  result.verdict = blocked ? 'block' : warned ? 'warn' : 'pass';
  result.exitCode = !opts.strict
    ? PREFLIGHT_EXIT.ok
    : result.database.state === 'unreachable'
      ? PREFLIGHT_EXIT.unreachable
      : blocked
        ? PREFLIGHT_EXIT.blocked
        : problems.length > 0
          ? PREFLIGHT_EXIT.failure
          : PREFLIGHT_EXIT.ok;

  // 4. One post to the team channel, bounded by what is left of the time.
  let report = preflightReport(result, opts, deps.environment);
  const notifier = deps.notifier;
  if (!notifier) return { result, report };
  const postMs = Math.max(1000, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      notifier.post(report),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`posting to ${notifier.name} took over ${postMs} ms`)),
          postMs,
        );
      }),
    ]);
    result.posted = true;
  } catch (err) {
    problems.push(`Could not post the deploy warning: ${asDbwardenError(err).message}`);
    if (opts.strict && result.exitCode === PREFLIGHT_EXIT.ok) {
      result.exitCode = PREFLIGHT_EXIT.failure;
      // Nothing was posted; the report printed by the CLI must say the deploy is stopped after all.
      report = preflightReport(result, opts, deps.environment);
    }
  } finally {
    clearTimeout(timer);
  }
  return { result, report };
}
