import type pg from 'pg';
import { asDbwardenError, type DbwardenError } from './errors.js';
import { formatAge } from './format.js';
import { type DbIdentity, readIdentity } from './identity.js';
import { detectMigrations, type MigrationsState } from './migrations.js';
import {
  applyRecentCounts,
  type CountsSource,
  liveBecause,
  type RecentCounts,
  usableCounts,
} from './status-counts.js';
import { countSql, listTables as listDbTables } from './tables.js';
import type { Target, TargetInfo } from './target.js';
import { blindWarning, type CountProblem } from './warning.js';

export interface TableStatus {
  schema: string;
  name: string;
  rows: number;
  /** true: count(*) (now, or at `countedAt`); false: the planner's estimate. */
  exact: boolean;
  /** When an exact count was taken by an earlier reading (the last watch round); absent: by this reading. */
  countedAt?: string;
  watched: boolean;
  sizeBytes: number;
  /** The extension that owns it (e.g. postgis): not the app's data, never watched automatically. */
  extension?: string;
  /** Why a watched table could not be counted exactly: the guard is blind to it (see guard-blind). */
  countProblem?: CountProblem;
}

/** The newest good backup of this database, as status shows it. */
export interface LastBackup {
  id: string;
  finishedAt: string;
  ageSeconds: number;
  verified: boolean;
  sizeBytes: number;
  /** "age": stored encrypted (as in its manifest); absent: stored plain. */
  encrypted?: 'age';
}

export interface StatusWarning {
  code: string;
  level: 'warn' | 'critical';
  message: string;
  /** What to do, when the message does not say it. */
  hint?: string;
  /** A warning the guard posted and has not cleared: since when. */
  since?: string;
}

/** The last backup attempt, when it failed (store/catalog.ts lastAttemptFailed): why, and what to do. */
export interface FailedBackup {
  id: string;
  finishedAt: string;
  message: string;
  hint: string;
}

/** What the backup catalog says about the database's backups (see StatusDeps.lastBackup). */
export interface BackupLookup {
  /** The database whose backups count: the one probed; unreachable, the one last seen here; null: unknown. */
  of: DbIdentity | null;
  backup: Omit<LastBackup, 'ageSeconds'> | null;
  /** The newest attempt of that database, when it failed (after `backup`, or with none). */
  failed?: FailedBackup | null;
  /** Good backups in the store that are of other databases (e.g. the demo's): never shown as this one's. */
  otherDatabases: number;
}

/** A warning the guard posted and has not cleared (kept in the store), as status needs it. */
export interface GuardOpenWarning {
  code: string;
  level: 'ok' | 'warn' | 'critical';
  title: string;
  since: string;
}

export interface DbStatus {
  target: Pick<TargetInfo, 'name' | 'environment' | 'display'>;
  checkedAt: string;
  reachable: boolean;
  /** Why not reachable (or what failed), readable by a human. */
  error: { code: string; message: string; hint?: string } | null;
  serverVersion: string | null;
  serverVersionNum: number | null;
  /** The role dbwarden connects as (current_user), named in GRANT hints. */
  role?: string;
  sizeBytes: number | null;
  tableCount: number | null;
  /** Watched tables first, then the rest by rows. */
  tables: TableStatus[];
  identity: DbIdentity | null;
  migrations: MigrationsState | null;
  lastBackup: LastBackup | null;
  /** The last attempt, when it failed after `lastBackup` (or with none): a backup-failed warning says why. */
  lastFailedBackup?: FailedBackup | null;
  /** Whose backups `lastBackup` is about (absent when no catalog was asked): see BackupLookup. */
  backupsOf?: { identity: DbIdentity | null; otherDatabases: number };
  /** Why the backups could not be read (store down, keys rejected): then the last backup is unknown, not "none". */
  backupsUnreadable?: string;
  /** This reading's own warnings and the guard's open ones, critical first. */
  warnings: StatusWarning[];
  /** Where the watched tables' exact counts came from (absent when the database did not answer). */
  counts?: CountsSource;
  /** Which query took longest, for the benchmark and slow-status debugging. */
  timings: Record<string, number>;
}

export interface StatusDeps {
  target: Target;
  /** Tables to count exactly; null picks them automatically. */
  watchTables: string[] | null;
  /** The newest good backup of the database with the probed identity (null: unreachable), from the catalog. */
  lastBackup?: (identity: DbIdentity | null) => Promise<BackupLookup>;
  /** The guard's open warnings, from the store: status is not ✅ while the guard has a warning open. */
  guardWarnings?: () => Promise<GuardOpenWarning[]>;
  /**
   * Exact counts an earlier reading took (the last watch round): status shows those, with their age, instead of
   * counting again, when they are of this database and not stale (core/status-counts.ts). Absent: all counted now.
   */
  recentCounts?: () => Promise<RecentCounts | null>;
  clock?: () => Date;
  /** DBWARDEN_BACKUP_MAX_AGE: a guard's open backup-stale warning is over once the newest good backup is younger. */
  backupMaxAgeMs?: number;
  /** Longest a single exact count may run before it falls back to the estimate. */
  countTimeoutMs?: number;
}

const MAX_AUTO_WATCHED = 8;
/** Longest status waits for any one table lock before it reads around the table. */
const LOCK_WAIT_MS = 1000;
/** SQLSTATE 55P03 lock_not_available: lock_timeout fired. */
const LOCK_NOT_AVAILABLE = '55P03';

/** Probe the target once and describe it. Never throws for an unreachable database: that is a status too. */
export async function probeStatus(deps: StatusDeps): Promise<DbStatus> {
  const clock = deps.clock ?? (() => new Date());
  const now = clock();
  const timings: Record<string, number> = {};
  const base: DbStatus = {
    target: { name: deps.target.name, environment: deps.target.environment, display: deps.target.display },
    checkedAt: now.toISOString(),
    reachable: false,
    error: null,
    serverVersion: null,
    serverVersionNum: null,
    sizeBytes: null,
    tableCount: null,
    tables: [],
    identity: null,
    migrations: null,
    lastBackup: null,
    warnings: [],
    timings,
  };

  // Read from the store while the database answers: a store that fails means counting live, never no status.
  const recentLookup = deps.recentCounts
    ? deps
        .recentCounts()
        .catch((err: unknown) => `the last watch round could not be read (${asDbwardenError(err).message})`)
    : null;
  const guardPromise = deps.guardWarnings?.().then(
    (open): { open: GuardOpenWarning[]; err?: string } => ({ open }),
    (err: unknown) => ({ open: [], err: asDbwardenError(err).message }),
  );
  try {
    await deps.target.readOnly(async (client) => {
      // A migration or a long transaction holding a table must slow status down a little, never make it fail.
      await client.query(`SET LOCAL lock_timeout = ${LOCK_WAIT_MS}`);
      const t = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
        const started = performance.now();
        try {
          return await fn();
        } finally {
          timings[name] = Math.round((performance.now() - started) * 10) / 10;
        }
      };
      const server = await t('server', () =>
        client.query<{ version: string; num: string; size: string; role: string }>(
          `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
                  pg_database_size(current_database())::text AS size, current_user AS role`,
        ),
      );
      const s = server.rows[0]!;
      base.serverVersion = s.version.split(' ')[0]!;
      base.serverVersionNum = Number(s.num);
      base.sizeBytes = Number(s.size);
      base.role = s.role;
      const identity = await t('identity', () => readIdentity(client));
      base.identity = identity;
      const tables = await t('tables', () => listTables(client));
      base.tableCount = tables.length;
      const watched = pickWatched(tables, deps.watchTables);
      // A string: why the round's counts cannot stand for now; null: none were asked for.
      const recent = recentLookup
        ? usableCounts(await t('recent-counts', () => recentLookup), identity, now)
        : null;
      const taken = recent && typeof recent !== 'string' ? applyRecentCounts(watched, recent) : 0;
      const toCount = watched.filter((x) => !x.exact);
      await t('counts', () => countExactly(client, toCount, deps.countTimeoutMs ?? 3000));
      base.counts =
        taken > 0 && recent && typeof recent !== 'string'
          ? { source: 'watch', countedAt: recent.at, ageSeconds: ageSeconds(now, recent.at) }
          : { source: 'live', countedAt: base.checkedAt, ageSeconds: 0, ...liveBecause(recent) };
      base.tables = [...watched, ...tables.filter((x) => !x.watched).sort((a, b) => b.rows - a.rows)];
      base.migrations = await t('migrations', () => detectMigrations(client));
      base.reachable = true;
    });
  } catch (err) {
    const e: DbwardenError = asDbwardenError(err);
    base.error = e.toJSON();
  }
  // Asked after the probe: which backups are this database's depends on the identity it answered with.
  const storeProblems: StatusWarning[] = [];
  if (deps.lastBackup) {
    try {
      const found = await deps.lastBackup(base.identity);
      base.backupsOf = { identity: found.of, otherDatabases: found.otherDatabases };
      const b = found.backup;
      base.lastBackup = b && { ...b, ageSeconds: ageSeconds(now, b.finishedAt) };
      base.lastFailedBackup = found.failed ?? null;
    } catch (err) {
      base.backupsUnreadable = asDbwardenError(err).message;
      storeProblems.push({
        code: 'store-unreadable',
        level: 'warn',
        message: `The store cannot be read, so the last backup is unknown: ${base.backupsUnreadable}`,
      });
    }
  }
  const guarded = await guardPromise;
  if (guarded?.err)
    storeProblems.push({
      code: 'store-unreadable',
      level: 'warn',
      message: `Could not read the guard's open warnings: ${guarded.err}`,
    });
  // The guard's backup warnings are as old as its last round; this reading has just read the catalog itself, so a
  // backup taken (or fixed) since then is not contradicted until the next round.
  const judged = base.backupsOf !== undefined && base.backupsOf.identity !== null;
  const good = base.lastBackup;
  const over = (o: GuardOpenWarning) =>
    judged &&
    // A failure is over once a good backup finished after it was raised (a scheduled run the store refused to
    // record is one the catalog never shows: only a later good backup ends it).
    ((o.code === 'backup-failed' &&
      !base.lastFailedBackup &&
      good !== null &&
      Date.parse(good.finishedAt) > Date.parse(o.since)) ||
      // "No backup" is this reading's own no-backup warning; "stale" is over once a fresh one exists.
      (o.code === 'backup-stale' &&
        (good === null ||
          (deps.backupMaxAgeMs !== undefined && good.ageSeconds * 1000 <= deps.backupMaxAgeMs))));
  base.warnings = withGuardWarnings(
    [...statusWarnings(base, deps.watchTables, storeProblems.length > 0), ...storeProblems],
    (guarded?.open ?? []).filter((o) => !over(o)),
    base.reachable,
  );
  return base;
}

const ageSeconds = (now: Date, at: string) =>
  Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));

/**
 * This reading's warnings plus the guard's open ones, critical first. A code this reading raised itself is
 * shown once (its own message is the fresher), and the guard's `unreachable` not when the database just answered.
 */
function withGuardWarnings(
  own: StatusWarning[],
  open: GuardOpenWarning[],
  reachable: boolean,
): StatusWarning[] {
  const seen = new Set(own.map((w) => w.code));
  // This reading's own warning says it anew; the guard's says since when it is open.
  const mine = own.map((w) => {
    const since = open.find((o) => o.code === w.code && o.level !== 'ok')?.since;
    return since ? { ...w, since } : w;
  });
  const guard: StatusWarning[] = open
    .filter((o) => o.level !== 'ok' && !seen.has(o.code) && !(reachable && o.code === 'unreachable'))
    .map((o) => ({
      code: o.code,
      level: o.level as StatusWarning['level'],
      message: o.title,
      since: o.since,
    }));
  const all = [...mine, ...guard];
  return [...all.filter((w) => w.level === 'critical'), ...all.filter((w) => w.level !== 'critical')];
}

/**
 * The database's tables (core/tables.ts: partitioned tables as one) with the planner's row estimates. Sizes come
 * from the files; when a table is locked (pg_relation_size waits behind ACCESS EXCLUSIVE), from the catalog.
 */
async function listTables(client: pg.ClientBase): Promise<TableStatus[]> {
  await client.query('SAVEPOINT dbwarden_tables');
  let listed: Awaited<ReturnType<typeof listDbTables>>;
  try {
    listed = await listDbTables(client);
    await client.query('RELEASE SAVEPOINT dbwarden_tables');
  } catch (err) {
    if ((err as { code?: string })?.code !== LOCK_NOT_AVAILABLE) throw err;
    await client.query('ROLLBACK TO SAVEPOINT dbwarden_tables');
    listed = await listDbTables(client, { sizes: false });
  }
  return listed.map((t) => ({
    schema: t.schema,
    name: t.name,
    rows: t.estimate,
    exact: false,
    watched: false,
    sizeBytes: t.sizeBytes,
    ...(t.extension ? { extension: t.extension } : {}),
  }));
}

const USER_TABLES = ['auth_user', 'users', 'user', 'accounts_user', 'core_user', 'accounts', 'customers'];

/** Configured tables (schema-qualified or not), or: the user table if recognisable, then the largest tables. */
export function pickWatched(tables: TableStatus[], configured: string[] | null): TableStatus[] {
  const byName = (spec: string) => {
    const [schema, name] = spec.includes('.') ? spec.split('.', 2) : [null, spec];
    return (
      tables.find((t) => t.name === name && (schema ? t.schema === schema : t.schema === 'public')) ??
      tables.find((t) => t.name === name && (schema === null || t.schema === schema))
    );
  };
  let picked: TableStatus[];
  if (configured) {
    picked = configured.map(byName).filter((t): t is TableStatus => t !== undefined);
  } else {
    const user =
      USER_TABLES.map(byName).find((t) => t !== undefined) ??
      // A Django custom user model lives in "<app>_user" (or "<app>_customuser").
      tables.find((t) => /^[a-z0-9]+_(custom)?user$/.test(t.name));
    const frameworkTables =
      /^(django_|auth_(group|permission)|_prisma_|knex_|schema_migrations$|ar_internal_metadata$|alembic_version$)/;
    const largest = tables
      .filter((t) => t !== user && !t.extension && !frameworkTables.test(t.name))
      .sort((a, b) => b.rows - a.rows || b.sizeBytes - a.sizeBytes)
      .slice(0, user ? MAX_AUTO_WATCHED - 1 : MAX_AUTO_WATCHED);
    picked = user ? [user, ...largest] : largest;
  }
  for (const t of picked) t.watched = true;
  return picked;
}

/**
 * count(*) each watched table, each bounded by its own timeout. One that cannot be counted keeps its estimate
 * and says why (countProblem): a permission problem is not a slow table.
 */
async function countExactly(client: pg.ClientBase, tables: TableStatus[], timeoutMs: number): Promise<void> {
  for (const t of tables) {
    await client.query('SAVEPOINT dbwarden_count');
    try {
      await client.query(`SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`);
      const r = await client.query<{ n: string }>(countSql(t));
      t.rows = Number(r.rows[0]!.n);
      t.exact = true;
      await client.query('RELEASE SAVEPOINT dbwarden_count');
    } catch (err) {
      t.countProblem = countProblem(err);
      await client.query('ROLLBACK TO SAVEPOINT dbwarden_count');
    }
  }
}

/** SQLSTATE 42501 insufficient_privilege, 57014 query_canceled (the statement timeout), 55P03 lock timeout. */
function countProblem(err: unknown): CountProblem {
  const code = (err as { code?: string })?.code;
  if (code === '42501') return 'permission-denied';
  if (code === '57014') return 'timeout';
  return code === LOCK_NOT_AVAILABLE ? 'locked' : 'error';
}

/** Warnings that one status reading shows by itself (the guard adds those that need history). */
function statusWarnings(s: DbStatus, configured: string[] | null, storeUnread = false): StatusWarning[] {
  const w: StatusWarning[] = [];
  if (!s.reachable)
    w.push({ code: 'unreachable', level: 'critical', message: s.error?.message ?? 'Database unreachable' });
  if (s.reachable && configured) {
    const found = new Set(
      s.tables.filter((t) => t.watched).flatMap((t) => [t.name, `${t.schema}.${t.name}`]),
    );
    for (const name of configured)
      if (!found.has(name))
        w.push({ code: 'table-missing', level: 'critical', message: `Watched table ${name} does not exist` });
  }
  const blind = blindWarning(
    s.tables
      .filter((t) => t.watched && !t.exact)
      .map((t) => ({ table: `${t.schema}.${t.name}`, problem: t.countProblem ?? 'error' })),
    { targetName: s.target.name, role: s.role ?? null, serverVersionNum: s.serverVersionNum },
  );
  if (blind && blind.level !== 'ok')
    w.push({ code: blind.code, level: blind.level, message: `${blind.message} ${blind.hint}` });
  if (s.migrations && s.migrations.failed > 0)
    w.push({
      code: 'migration-failed',
      level: 'warn',
      message: `${s.migrations.failed} ${s.migrations.framework} migration(s) started but never finished`,
    });
  // Unknown whose backups count (never seen, not answering) or unreadable: "no backup" would be a guess.
  const known = s.backupsOf === undefined || s.backupsOf.identity !== null;
  const failed = s.lastFailedBackup;
  if (failed) {
    // As the guard says it (its open backup-failed warning gives way to this one): a backup run again without
    // fixing the cause fails the same way, so the cause and the fix are said here.
    const ago = formatAge(Date.parse(s.checkedAt) - Date.parse(failed.finishedAt));
    const good = s.lastBackup
      ? ` (the newest good one was taken ${formatAge(s.lastBackup.ageSeconds * 1000)})`
      : '';
    w.push({
      code: 'backup-failed',
      level: 'critical',
      message: `The last backup (${failed.id}, ${ago}) failed${good}: ${failed.message}`,
      hint: failed.hint,
    });
  }
  if (!s.lastBackup && known && !storeUnread) {
    const others = s.backupsOf?.otherDatabases ?? 0;
    const mine =
      others > 0
        ? `No good backup of this database yet (the ${others === 1 ? 'one' : others} in the store ${others === 1 ? 'is' : 'are'} of another database)`
        : 'No good backup yet';
    w.push({
      code: 'no-backup',
      level: 'warn',
      message: failed
        ? `${mine}: if the database were lost now, nothing could bring it back. Fix the failure above, then take a backup`
        : `${mine}: run /backup-now or \`dbwarden backup\``,
    });
  }
  return w;
}
