import { formatAge, formatBytes, formatCount, formatDuration, formatTime } from '../core/format.js';
import { type DbIdentity, identityLabel, sameIdentity } from '../core/identity.js';
import type { Snapshot } from '../core/snapshot.js';
import { exclusionMatcher } from '../core/tables.js';
import { blindWarning, type Warning, type WarningCode, type WayBack } from '../core/warning.js';
import { failureOf, goodBackupsOf, lastAttemptFailed } from '../store/catalog.js';
import { type BackupManifest, isGood } from '../store/manifest.js';

/** A warning that was posted and has not cleared yet. */
export interface OpenWarning {
  code: WarningCode;
  level: Warning['level'];
  title: string;
  since: string;
  lastPostedAt: string;
}

export interface GuardConfig {
  environment: string;
  target: { name: string; display: string; host: string };
  backupMaxAgeMs: number;
  rowsDropPct: number;
  unreachableChecks: number;
  /** Restore drills are scheduled, so one should have succeeded lately. */
  drillsConfigured: boolean;
  /** DBWARDEN_AGE_IDENTITY is set here: those drills can decrypt encrypted backups (without it they are skipped). */
  drillIdentity?: boolean;
  /** DBWARDEN_EXCLUDE_TABLES: for manifests older than their own record of what was left out (leftOut). */
  excludeTables?: string[];
  /** Times in messages are shown in this zone (default UTC). */
  timezone?: string;
}

export interface Unreachable {
  unreachable: { code: string; message: string; hint?: string };
  /** Failed checks in a row, this one included. */
  failedChecks: number;
  /** When the first of them happened. */
  since: string;
}

export interface GuardInput {
  /** What the database looked like when last known good (null on the first run). */
  previous: Snapshot | null;
  current: Snapshot | Unreachable;
  /** An `unreachable` warning was posted and is still open: a reachable database now means `recovered`. */
  unreachableOpen?: boolean;
  /** `rows-dropped` is open: it clears only when the rows are (nearly) all back, not when growth hides the loss. */
  rowsDroppedOpen?: boolean;
  /** Every backup manifest (any order). */
  manifests: BackupManifest[];
  /** The catalog could not be read: no backup warning can be judged ("no backup" would be a guess). */
  backupsUnknown?: boolean;
  /** The snapshot nearest before the newest good backup (of this database) started: what that backup should hold. */
  atBackup?: Snapshot | null;
  config: GuardConfig;
  now: Date;
}

/** A watched table must have at least this many rows before a fall counts as rows-dropped (noise floor). */
export const MIN_ROWS_FOR_DROP = 10;
/** Estimates are compared only for tables at least this big: the planner's figure for small tables is noise. */
export const MIN_ROWS_FOR_ESTIMATE = 1000;
/** An estimate counts as a loss only below this share of the one before (a fall to 0 included). */
export const ESTIMATE_DROP_SHARE = 0.5;
/** While rows-dropped is open, a table still counts as dropped until fewer than this share of its rows is missing. */
export const RESOLVE_DROP_PCT = 2;
/** A time for a message, in the configured zone. */
const at = (iso: string, config: GuardConfig) => formatTime(new Date(iso), config.timezone ?? 'UTC');
/** A successful restore drill is expected this often when drills are configured. */
export const DRILL_MAX_AGE_MS = 7 * 86_400_000;

/** Compare what the database looked like with what it looks like now, and check the backups. Pure. */
export function guard(input: GuardInput): Warning[] {
  const out: Warning[] = [];
  const { previous, current, config } = input;
  if ('unreachable' in current) {
    const w = unreachableWarning(input, current);
    if (w) out.push(w);
  } else {
    if (input.unreachableOpen)
      out.push({
        code: 'recovered',
        level: 'ok',
        title: 'Database reachable again',
        message: `${config.target.name} answers again (identity ${identityLabel(current.identity)}).`,
        details: [],
        hint: 'Check the app is healthy; the guard keeps watching.',
        wayBack: null,
      });
    if (previous) out.push(...compareSnapshots(input, previous, current));
    const blind = blindWarning(current.blind ?? [], {
      targetName: config.target.name,
      role: current.role ?? null,
      serverVersionNum: current.serverVersionNum ?? null,
    });
    if (blind) out.push(blind);
  }
  if (!input.backupsUnknown) out.push(...backupWarnings(input));
  const np = notProduction(config);
  if (np) out.push(np);
  const rank = { critical: 0, warn: 1, ok: 2 };
  return out.sort((a, b) => rank[a.level] - rank[b.level]);
}

function compareSnapshots(input: GuardInput, prev: Snapshot, cur: Snapshot): Warning[] {
  const { config, manifests } = input;
  const name = config.target.name;
  const way = (lost: string[] = []) => wayBack(manifests, prev, config, lost);
  if (!sameIdentity(prev.identity, cur.identity)) {
    const rows = (s: Snapshot) => s.watched.reduce((n, t) => n + (s.tables[t]?.rows ?? 0), 0);
    const w = way();
    return [
      {
        code: 'database-replaced',
        level: 'critical',
        title: 'Database replaced',
        message:
          `${name} is not the same database any more: its identity changed from ${identityLabel(prev.identity)} ` +
          `to ${identityLabel(cur.identity)} since ${at(prev.at, config)}. It was deleted and recreated, or DATABASE_URL now ` +
          'points at a different database.',
        details: [
          `before: ${Object.keys(prev.tables).length} tables, ${formatCount(rows(prev))} rows in watched tables, ${formatBytes(prev.sizeBytes)}`,
          `now:    ${Object.keys(cur.tables).length} tables, ${formatCount(rows(cur))} rows in watched tables, ${formatBytes(cur.sizeBytes)}`,
        ],
        hint: w
          ? 'If this move was intended, run `dbwarden accept`. If not, stop the app writing and restore the backup below.'
          : `If this move was intended, run \`dbwarden accept\`. If not, stop the app writing. ${noWayBack('the old database')}`,
        wayBack: w,
      },
    ];
  }

  const out: Warning[] = [];
  const missing = Object.keys(prev.tables).filter((t) => !(t in cur.tables));
  if (missing.length > 0) {
    const important = missing.filter((t) => prev.watched.includes(t) || (prev.tables[t]?.rows ?? 0) > 0);
    const w = way(missing);
    out.push({
      code: 'table-missing',
      level: important.length > 0 ? 'critical' : 'warn',
      title: missing.length === 1 ? 'Table gone' : `${missing.length} tables gone`,
      message: `${missing.length === 1 ? 'A table that existed is' : `${missing.length} tables that existed are`} gone from ${name}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}.`,
      details: missing.map(
        (t) => `${t}: had ${prev.tables[t]!.exact ? '' : '~'}${formatCount(prev.tables[t]!.rows)} rows`,
      ),
      hint: w
        ? 'If a migration dropped it on purpose, run `dbwarden accept`. If not, restore the backup below.'
        : `If a migration dropped it on purpose, run \`dbwarden accept\`. If not: ${noWayBack()}`,
      wayBack: w,
    });
  }

  // Only exact counts on both sides are compared: estimates move on their own.
  const compared = prev.watched.filter(
    (t) => prev.tables[t]?.exact && cur.tables[t]?.exact && (prev.tables[t]?.rows ?? 0) > 0,
  );
  const emptied = compared.filter((t) => cur.tables[t]!.rows === 0);
  if (compared.length > 0 && emptied.length === compared.length) {
    const w = way();
    out.push({
      code: 'database-emptied',
      level: 'critical',
      title: 'Database emptied',
      message: `Every watched table of ${name} that had rows is now empty (${emptied.length} table${emptied.length === 1 ? '' : 's'}). Something like \`manage.py flush\`, TRUNCATE or a bad migration wiped the data.`,
      details: emptied.map((t) => `${t}: ${formatCount(prev.tables[t]!.rows)} → 0`),
      hint: w
        ? 'Stop the app writing new data, then restore the backup below.'
        : `Stop the app writing new data. ${noWayBack()}`,
      wayBack: w,
    });
    return out;
  }

  const threshold = input.rowsDroppedOpen
    ? Math.min(RESOLVE_DROP_PCT, config.rowsDropPct)
    : config.rowsDropPct;
  const exactDrops = compared.filter((t) => {
    const before = prev.tables[t]!.rows;
    const now = cur.tables[t]!.rows;
    return before >= MIN_ROWS_FOR_DROP && ((before - now) / before) * 100 > threshold;
  });
  // Watched tables without an exact count on one side (too big to count in time, or not readable) are the ones
  // that matter most: compared by the planner's estimates, with a looser rule since estimates drift.
  const blind = new Set([...(prev.blind ?? []), ...(cur.blind ?? [])].map((b) => b.table));
  for (const t of prev.watched) if (cur.tables[t] && !cur.tables[t].exact) blind.add(t);
  const estimatedDrops = [...blind].filter((t) => {
    const before = prev.tables[t]?.rows ?? 0;
    const now = cur.tables[t]?.rows;
    return now !== undefined && before >= MIN_ROWS_FOR_ESTIMATE && now < before * ESTIMATE_DROP_SHARE;
  });
  const dropped = [...exactDrops, ...estimatedDrops];
  if (dropped.length > 0) {
    const w = way();
    out.push({
      code: 'rows-dropped',
      level: 'critical',
      title: 'Rows vanished',
      message: `More than ${config.rowsDropPct} % of the rows of ${dropped.length === 1 ? 'a watched table' : `${dropped.length} watched tables`} of ${name} vanished since ${at(prev.at, config)}.`,
      details: dropped.map((t) => {
        const before = prev.tables[t]!.rows;
        const now = cur.tables[t]!.rows;
        const estimated = estimatedDrops.includes(t) ? ', estimated: not counted exactly' : '';
        return `${t}: ${prev.tables[t]!.exact ? '' : '~'}${formatCount(before)} → ${cur.tables[t]!.exact ? '' : '~'}${formatCount(now)} (−${Math.round(((before - now) / before) * 100)} %${estimated})`;
      }),
      hint: w
        ? 'If the deletion was intended, run `dbwarden accept`. If not, restore the backup below (into a scratch database to copy the rows back).'
        : `If the deletion was intended, run \`dbwarden accept\`. If not, stop the app writing. ${noWayBack()}`,
      wayBack: w,
    });
  }
  return out;
}

function unreachableWarning(input: GuardInput, cur: Unreachable): Warning | null {
  const { config } = input;
  if (cur.failedChecks < config.unreachableChecks) return null;
  const gone = cur.unreachable.code === 'unreachable-no-database';
  const way = gone ? wayBack(input.manifests, input.previous, config) : null;
  return {
    code: 'unreachable',
    level: 'critical',
    title: gone
      ? 'Database deleted'
      : cur.unreachable.code === 'timeout'
        ? 'Database not answering in time'
        : 'Database unreachable',
    message: `${config.target.name} has not answered ${cur.failedChecks} checks in a row (since ${at(cur.since, config)}): ${cur.unreachable.message}.`,
    details: [],
    hint:
      cur.unreachable.hint ??
      'Check the database service and its network; dbwarden posts again when it recovers.',
    wayBack: way,
  };
}

function backupWarnings(input: GuardInput): Warning[] {
  const { config, now } = input;
  const out: Warning[] = [];
  // Only this database's backups count; a failed run that could not read the identity is judged as is.
  const good = goodBackupsOf(input.manifests, guardedIdentity(input));
  const newest = lastAttemptFailed(input.manifests, guardedIdentity(input));
  if (newest) {
    const { message: why, hint } = failureOf(newest);
    out.push({
      code: 'backup-failed',
      level: 'critical',
      title: 'Backup failed',
      message: `The last backup of ${config.target.name} (${newest.id}, requested by ${newest.requestedBy}) failed: ${why}.`,
      details: good[0]
        ? [`newest good backup: ${good[0].id}, ${formatAge(now.getTime() - Date.parse(good[0].finishedAt))}`]
        : ['there is no good backup at all'],
      hint,
      wayBack: null,
    });
  }
  const latest = good[0];
  if (!latest) {
    out.push({
      code: 'backup-stale',
      level: 'warn',
      title: 'No backup',
      message: `There is no good backup of ${config.target.name} at all${input.manifests.some(isGood) ? ' (the good backups in the store are of another database)' : ''}: if it were lost now, nothing could bring it back.`,
      details: [],
      hint: 'Run `dbwarden backup` (or /backup-now) now.',
      wayBack: null,
    });
    return out;
  }
  const age = now.getTime() - Date.parse(latest.finishedAt);
  if (age > config.backupMaxAgeMs)
    out.push({
      code: 'backup-stale',
      level: 'warn',
      title: 'Backup stale',
      message: `The newest good backup of ${config.target.name} is ${formatDuration(age)} old (${latest.id}), older than the ${formatDuration(config.backupMaxAgeMs)} limit: scheduled backups are not happening.`,
      details: [],
      hint: 'Check that `dbwarden serve` is running and its logs; run `dbwarden backup` now.',
      wayBack: null,
    });

  if (config.drillsConfigured) {
    const drills = good.map((m) => m.drill).filter((d) => d !== null);
    const lastOk = drills.filter((d) => d.ok).sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
    if (!lastOk || now.getTime() - Date.parse(lastOk.at) > DRILL_MAX_AGE_MS) {
      const lastTry = drills.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
      out.push({
        code: 'backup-unverified',
        level: 'warn',
        title: 'Backups not proven restorable',
        message: `No restore drill of ${config.target.name} has succeeded in the last 7 days${lastOk ? ` (last success ${formatAge(now.getTime() - Date.parse(lastOk.at))})` : ''}: nobody knows whether the backups restore.`,
        details:
          lastTry && !lastTry.ok
            ? [`last drill ${at(lastTry.at, config)}: ${lastTry.problem ?? 'failed'}`]
            : [],
        hint:
          latest.encrypted && !config.drillIdentity
            ? `${latest.id} is encrypted and this dbwarden has no DBWARDEN_AGE_IDENTITY, so its scheduled drills are skipped: run \`dbwarden verify ${latest.id} --drill\` where the key is kept (DBWARDEN_AGE_IDENTITY set there), and unset DBWARDEN_DRILL_CRON here.`
            : `Check DBWARDEN_DRILL_URL and the drill schedule; run \`dbwarden verify ${latest.id} --drill\` by hand.`,
        wayBack: null,
      });
    }
  }

  const shrunk = shrinkage(latest, good[1] ?? null, input.atBackup ?? null, config.excludeTables ?? []);
  if (shrunk.length > 0)
    out.push({
      code: 'backup-shrunk',
      level: 'warn',
      title: 'Backup smaller than the database',
      message: `Backup ${latest.id} of ${config.target.name} holds less than it should: the dump may be silently empty or partial.`,
      details: shrunk,
      hint: `Restore it into a scratch database to look (\`dbwarden verify ${latest.id} --drill\`), and check pg_dump permissions and DBWARDEN_EXCLUDE_TABLES.`,
      wayBack: null,
    });
  return out;
}

/** Why the newest backup looks too small: vs the previous backup, and vs the database when it was taken. */
function shrinkage(
  latest: BackupManifest,
  previous: BackupManifest | null,
  atBackup: Snapshot | null,
  exclude: string[],
): string[] {
  const lines: string[] = [];
  if (previous && latest.sizeBytes < previous.sizeBytes / 2)
    lines.push(
      `${formatBytes(latest.sizeBytes)}, less than half of the previous backup (${previous.id}, ${formatBytes(previous.sizeBytes)})`,
    );
  if (atBackup && (!latest.identity || sameIdentity(latest.identity, atBackup.identity))) {
    const excluded = leftOutBy(latest, atBackup, exclude);
    const inDb = Object.keys(atBackup.tables).filter((t) => !excluded(t) || t in latest.tables);
    const absent = inDb.filter((t) => !(t in latest.tables));
    if (absent.length > 0)
      lines.push(
        `holds ${Object.keys(latest.tables).length} tables; the database had ${inDb.length} (missing: ${absent.slice(0, 5).join(', ')}${absent.length > 5 ? ', …' : ''})`,
      );
    for (const t of atBackup.watched) {
      const had = atBackup.tables[t]?.rows ?? 0;
      const held = latest.tables[t];
      if (held === undefined || excluded(t) || had < MIN_ROWS_FOR_DROP) continue;
      if (held < had / 2)
        lines.push(`holds ${formatCount(held)} rows of ${t}; the database had ${formatCount(had)}`);
    }
  }
  return lines;
}

const LOCAL_HOST =
  /^(localhost|.*\.localhost|.*\.local|host\.docker\.internal|0\.0\.0\.0|127(\.\d{1,3}){3}|::1)$/i;

/** Does the environment claim production while the target is plainly a developer's machine? */
function notProduction(config: GuardConfig): Warning | null {
  if (!/^prod/i.test(config.environment)) return null;
  if (!LOCAL_HOST.test(config.target.host)) return null;
  return {
    code: 'not-production-database',
    level: 'warn',
    title: 'Not the production database?',
    message: `DBWARDEN_ENV says "${config.environment}", but the guarded database is on ${config.target.host} (${config.target.display}): that is a developer machine, not production. Your real data may be unguarded.`,
    details: [],
    hint: "Set DATABASE_URL to the production database's URL, or DBWARDEN_ENV to what this really is (e.g. development).",
    wayBack: null,
  };
}

/**
 * Which database the guard speaks for: the one that answers now, else (unreachable) the one it last knew. Its
 * backups are the only ones the guard counts.
 */
export function guardedIdentity(input: Pick<GuardInput, 'previous' | 'current'>): DbIdentity | null {
  return 'unreachable' in input.current ? (input.previous?.identity ?? null) : input.current.identity;
}

/** Said instead of "restore the backup below" when there is none to restore. */
const noWayBack = (of = 'this database') =>
  `No backup of ${of} holds the data as it was, so dbwarden cannot bring it back. Look now for another copy ` +
  "(your provider's snapshots or point-in-time recovery, a replica) before it expires.";

/** The command that restores a backup into a database given by its masked URL (the password never shown). */
export function restoreCommand(backupId: string, maskedUrl: string): string {
  return `dbwarden restore ${backupId} --to ${maskedUrl}`;
}

/**
 * The way back to the data as the last good snapshot (`before`) saw it: the newest good backup of that database
 * whose recorded row counts show the data intact (see holdsData), `lost` tables included. Failing that, the newest
 * one started before that snapshot: it predates the change, and rows it lacks are growth since, not loss. A backup
 * taken after the loss (a flush, then a backup) holds the loss and is never offered. Null when there is none.
 */
export function wayBack(
  manifests: BackupManifest[],
  before: Snapshot | null,
  config: Pick<GuardConfig, 'rowsDropPct' | 'excludeTables' | 'target'>,
  lost: string[] = [],
): WayBack | null {
  if (!before) return null;
  const good = goodBackupsOf(manifests, before.identity);
  const pick =
    good.find((m) => holdsData(m, before, config.rowsDropPct, config.excludeTables ?? [], lost)) ??
    good.find((m) => Date.parse(m.startedAt) <= Date.parse(before.at));
  if (!pick) return null;
  return {
    backupId: pick.id,
    takenAt: pick.startedAt,
    sizeBytes: pick.sizeBytes,
    command: restoreCommand(pick.id, config.target.display),
  };
}

/**
 * The tables a backup left out on purpose (excluded, extension-owned): its manifest's own record, or for an older
 * manifest the same rule applied to the snapshot. One rule for "shrunk" and for "holds the data".
 */
function leftOutBy(m: BackupManifest, snap: Snapshot, exclude: string[]): (table: string) => boolean {
  if (m.leftOut) {
    const leftOut = m.leftOut;
    return (t) => t in leftOut;
  }
  const matches = exclusionMatcher(exclude);
  return (t) => {
    const dot = t.indexOf('.');
    return Boolean(snap.tables[t]?.extension) || matches({ schema: t.slice(0, dot), name: t.slice(dot + 1) });
  };
}

/**
 * Does the backup hold the data `snap` saw? Each watched table it counted kept all but `dropPct` % of its rows (a
 * small one: any at all) — the rule that raises rows-dropped, so a backup the guard would call damaged is never
 * the way back — and the `lost` tables are in it. Tables whose data dumps exclude are not asked for; a watched
 * table the dump does not count (e.g. extension-owned) is no evidence either way.
 */
export function holdsData(
  m: BackupManifest,
  snap: Snapshot,
  dropPct: number,
  excludeTables: string[],
  lost: string[] = [],
): boolean {
  const excluded = leftOutBy(m, snap, excludeTables);
  if (lost.some((t) => !excluded(t) && m.tables[t] === undefined)) return false;
  for (const t of snap.watched) {
    const had = snap.tables[t];
    const held = m.tables[t];
    if (!had?.exact || had.rows <= 0 || held === undefined || excluded(t)) continue;
    if (had.rows < MIN_ROWS_FOR_DROP ? held === 0 : (had.rows - held) * 100 > had.rows * dropPct)
      return false;
  }
  return true;
}
