import type { BackupService } from '../backup/service.js';
import { asDbwardenError } from '../core/errors.js';
import { formatBytes } from '../core/format.js';
import { type DbIdentity, identityLabel } from '../core/identity.js';
import type { Notifier } from '../core/notifier.js';
import type { Level, Report, ReportSection } from '../core/report.js';
import { snapshotFromStatus } from '../core/snapshot.js';
import type { DbStatus } from '../core/status.js';
import type { GuardConfig } from '../guard/guard.js';
import { baselineSnapshot } from '../guard/watch-state.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BackupManifest } from '../store/manifest.js';
import { dataLossWarnings, rememberFirstSight } from './baseline.js';
import { type Finding, hasDestructive, lintSql } from './migration-lint.js';
import type { PendingSql } from './pending-sql.js';

export interface PreflightOptions {
  /** Exit non-zero when the database was replaced or emptied, destructive SQL is pending unallowed, or dbwarden failed. */
  strict: boolean;
  /** Take a backup even when nothing destructive is pending. */
  backup: boolean;
  /** DBWARDEN_ALLOW_DESTRUCTIVE: destructive SQL does not block --strict. */
  allowDestructive: boolean;
  /** The whole preflight, posting included, ends within this. */
  timeoutMs: number;
}

export interface PreflightDeps {
  status: (signal: AbortSignal) => Promise<DbStatus>;
  /** Where the remembered baseline lives; null when the store could not be opened. */
  store: BlobStore | null;
  /** The pending migrations' SQL (files, or Django); null when none was asked for. */
  pending: ((timeoutMs: number) => Promise<PendingSql[]>) | null;
  backups: BackupService | null;
  notifier: Notifier;
  environment: string;
  guardConfig: GuardConfig;
  clock: () => Date;
}

/** A data-loss warning of the guard, as preflight lists it. */
export interface DataLoss {
  code: string;
  title: string;
  message: string;
  details: string[];
  /** The command that brings the data back, when a backup from before exists. */
  restore: string | null;
}

export type DatabaseState = 'same' | 'first-seen' | 'replaced' | 'emptied' | 'unreachable' | 'unknown';

/** What preflight found; `--json` prints it. */
export interface PreflightResult {
  verdict: 'pass' | 'warn' | 'block';
  exitCode: number;
  database: {
    display: string;
    reachable: boolean;
    state: DatabaseState;
    identity: DbIdentity | null;
    remembered: DbIdentity | null;
    /** The guard's data-loss warnings against its baseline: replaced, emptied, rows dropped, table gone. */
    dataLoss: DataLoss[];
  };
  pending: string[];
  findings: Finding[];
  destructive: boolean;
  backup: { id: string; sizeBytes: number; verified: boolean } | null;
  /** Why --strict stops (or would stop) the deploy. */
  blocking: string[];
  /** What went wrong in dbwarden itself (never blocks without --strict). */
  problems: string[];
  posted: boolean;
}

/** Exit codes: 0 pass or warn-only, 3 blocked by findings, 2 database unreachable, 1 dbwarden failed (strict only). */
export const PREFLIGHT_EXIT = { ok: 0, failure: 1, unreachable: 2, blocked: 3 } as const;

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
      state: 'unknown',
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
  try {
    status = await within('checking the database', (signal) => deps.status(signal));
    result.database.display = status.target.display;
    result.database.reachable = status.reachable;
    result.database.identity = status.identity;
    if (!status.reachable) {
      result.database.state = 'unreachable';
      blocking.push(`The database does not answer: ${status.error?.message ?? 'unknown error'}`);
    }
  } catch (err) {
    fail(err);
  }
  if (status?.reachable) {
    const reading = status;
    try {
      if (!deps.store)
        throw new Error('the store is not available: cannot compare with the remembered database');
      const store = deps.store;
      const before = await within('reading the remembered database', () => baselineSnapshot(store));
      const current = snapshotFromStatus(reading);
      if (!before) {
        result.database.state = 'first-seen';
        await within('remembering the database', () => rememberFirstSight(store, reading));
      } else if (current) {
        result.database.remembered = before.identity;
        const warnings = await within('comparing with the remembered database', () =>
          dataLossWarnings(store, before, current, deps.guardConfig, deps.clock()),
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
      'Destructive statements are pending (listed above); set DBWARDEN_ALLOW_DESTRUCTIVE=1 for this deploy once a person has checked them.',
    );

  // 3. A backup before anything destructive runs (or always, with --backup).
  if ((result.destructive || opts.backup) && status?.reachable) {
    if (!deps.backups)
      problems.push('Backups are not available in this dbwarden: no pre-migration backup was taken.');
    else {
      const backups = deps.backups;
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
  const postMs = Math.max(1000, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      deps.notifier.post(report),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`posting to ${deps.notifier.name} took over ${postMs} ms`)),
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

const findingLine = (f: Finding) =>
  `${f.source ?? 'sql'}:${f.line} ${f.rule} — ${f.statement.length > 120 ? `${f.statement.slice(0, 119)}…` : f.statement} (${f.why})`;

/** The deploy warning: what will run, what is dangerous about it, and which backup to restore. */
export function preflightReport(r: PreflightResult, opts: PreflightOptions, environment: string): Report {
  const level: Level = r.verdict === 'block' ? 'critical' : r.verdict === 'warn' ? 'warn' : 'ok';
  const sections: ReportSection[] = [];
  if (r.database.state === 'unreachable')
    sections.push({
      title: '🚨 Database unreachable',
      lines: r.blocking.filter((b) => !b.startsWith('Destructive')),
    });
  for (const w of r.database.dataLoss)
    sections.push({
      title: `🚨 ${w.title}`,
      lead: [w.message],
      lines: w.details,
      // The way back is never cut to make room.
      tail: w.restore ? [`Restore: ${w.restore}`] : [],
    });
  const destructive = r.findings.filter((f) => f.severity !== 'risky');
  const risky = r.findings.filter((f) => f.severity === 'risky');
  if (destructive.length)
    sections.push({ title: 'Destructive statements pending', lines: destructive.map(findingLine) });
  if (risky.length) sections.push({ title: 'Risky statements pending', lines: risky.map(findingLine) });
  if (r.problems.length) sections.push({ title: 'dbwarden could not check everything', lines: r.problems });
  // The title follows the exit code: with --strict, dbwarden failing stops the deploy as findings do.
  const outcome =
    opts.strict && r.exitCode !== PREFLIGHT_EXIT.ok
      ? r.verdict === 'block'
        ? 'the deploy is stopped (--strict)'
        : 'the deploy is stopped: dbwarden could not check everything (--strict)'
      : r.verdict === 'block'
        ? 'the deploy goes on (not --strict)'
        : r.verdict === 'warn'
          ? 'the deploy goes on'
          : 'nothing dangerous pending';
  const stateText: Record<DatabaseState, string> = {
    same: 'the one dbwarden remembers',
    'first-seen': 'first seen now: remembered',
    replaced: '🚨 REPLACED',
    emptied: '🚨 EMPTIED',
    unreachable: 'unreachable',
    unknown: 'not checked',
  };
  return {
    title: `Deploy preflight: ${outcome}`,
    level,
    summary:
      r.verdict === 'pass'
        ? `Deploy preflight passed: ${r.pending.length} pending migration(s), nothing destructive.`
        : `Deploy preflight: ${r.blocking[0] ?? r.problems[0] ?? `${r.findings.length} finding(s) in pending migrations`}`,
    fields: [
      { label: 'Database', value: r.database.display || 'unknown' },
      { label: 'Environment', value: environment },
      {
        label: 'Identity',
        value: `${r.database.identity ? identityLabel(r.database.identity) : 'unknown'} (${stateText[r.database.state]})`,
      },
      { label: 'Pending', value: r.pending.length ? r.pending.join(', ') : 'no pending migrations given' },
      {
        label: 'Backup',
        value: r.backup
          ? `${r.backup.id} (${formatBytes(r.backup.sizeBytes)}${r.backup.verified ? ', verified' : ''})`
          : r.destructive || opts.backup
            ? 'none taken'
            : 'not needed',
      },
    ],
    sections,
    ...(r.backup
      ? { footer: `Restore if the migration goes wrong: dbwarden restore ${r.backup.id} --to <database-url>` }
      : {}),
  };
}
