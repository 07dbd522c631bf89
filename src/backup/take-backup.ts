import type pg from 'pg';
import { BackupFailed, DbwardenError } from '../core/errors.js';
import { type DbIdentity, readIdentity } from '../core/identity.js';
import { countDumped, listTables, planDump } from '../core/tables.js';
import type { Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';
import { assertComplete, type Catalog } from '../store/catalog.js';
import type { BackupTimings } from '../store/manifest.js';
import { type ArchiveListing, startListing } from './archive.js';
import { dumpHint, runPgDump } from './dump.js';
import { assertNewEnough, findTool, type PgTool } from './pg-tools.js';

export interface TakeOptions {
  target: Target;
  store: BlobStore;
  catalog: Catalog;
  id: string;
  pgDump: string | null;
  pgRestore: string | null;
  compression: number;
  excludeTables: string[];
  timeoutMs: number;
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
  /** pg_dump runs, with the database's identity as the snapshot session reads it alongside. */
  onSpawn?: (pid: number, identity: Promise<DbIdentity | null>) => void;
  /** The connection to take the snapshot on: the backup lock's, so a backup sets up one connection. */
  withSession: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
  /** pg_dump and pg_restore, when the caller started looking for them earlier (findDumpTools). */
  tools?: Promise<[PgTool, PgTool]>;
}

/** The pg_dump and pg_restore a backup runs: configured, else the newest found. Each answer is a process start. */
export function findDumpTools(o: {
  pgDump: string | null;
  pgRestore: string | null;
}): Promise<[PgTool, PgTool]> {
  const tools = Promise.all([findTool('pg_dump', o.pgDump), findTool('pg_restore', o.pgRestore)]);
  // Awaited later by the backup; a failure until then is not an unhandled rejection.
  tools.catch(() => {});
  return tools;
}

/** A dump written to its temporary key and checked complete, with what the database held at that moment. */
export interface TakenDump {
  sizeBytes: number;
  sha256: string;
  pgDump: PgTool;
  pgRestore: PgTool;
  serverVersion: string;
  identity: DbIdentity | null;
  tables: Record<string, number>;
  /** Tables whose rows the dump does not (all) hold on purpose, and why. */
  leftOut: Record<string, string>;
  warnings: string;
  /** The SHA-256 was taken reading the stored file back (a file store): the checksum re-read is already done. */
  readBack: boolean;
  /** When pg_dump started (performance.now()), and how long the dump and the work alongside it took. */
  dumpStartedAt: number;
  timings: Pick<BackupTimings, 'dumpMs' | 'countsMs' | 'listMs' | 'checksumMs'>;
}

interface Snapshot {
  serverVersion: string;
  serverMajor: number;
  snapshot: string;
  pid: number;
}

/**
 * Dump the target into the store under the backup's temporary key. Row counts are taken in the very snapshot
 * pg_dump dumps, on this session while pg_dump runs on its own; `pg_restore --list` reads the archive's table list
 * from the dump's own stream, also while pg_dump runs, and it is checked against the database's before anyone
 * trusts it. (The stored bytes are proved equal to that stream by the checksum re-read after publishing.)
 */
export async function takeDump(o: TakeOptions): Promise<TakenDump> {
  // Finding the tools starts a process per candidate: done while the session connects (or earlier), not before it.
  const tools = o.tools ?? findDumpTools(o);
  let snap: Snapshot | null = null;
  let outcome: { ok: true; value: TakenDump } | { ok: false; error: unknown } | null = null;

  // The session's target.withClient rewraps errors thrown inside it, so failures travel out as values.
  const session = o.withSession(async (client) => {
    // This session's queries still running when the backup stops early (a pg_dump too old): the ROLLBACK waits.
    let busy: Promise<unknown> = Promise.resolve();
    try {
      // The transaction and its snapshot in one round trip (two statements in one simple query: two results).
      const results = (await client.query(
        `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
         SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
                pg_backend_pid() AS pid, pg_export_snapshot() AS snapshot`,
      )) as unknown as [
        pg.QueryResult,
        pg.QueryResult<{ version: string; num: string; pid: number; snapshot: string }>,
      ];
      const row = results[1].rows[0]!;
      // On this session, one after the other while pg_dump starts: the identity and the table list under the
      // status timeout, then (below) the counts, bounded by the backup's own timeout only.
      const identity = readIdentity(client);
      const plan = identity
        .then(() => listTables(client, { sizes: false }))
        .then((t) => planDump(t, o.excludeTables));
      // The counts run alongside the dump in one backend: a parallel plan would take the server's workers from the
      // app, and on a small server CPU from the dump itself.
      const unbounded = plan.then(() =>
        client.query(
          `SELECT set_config('statement_timeout', '0', true), set_config('max_parallel_workers_per_gather', '0', true)`,
        ),
      );
      const prepared = Promise.all([identity, plan, unbounded]);
      prepared.catch(() => {});
      busy = prepared;
      snap = {
        serverVersion: row.version.split(' ')[0]!,
        serverMajor: Math.floor(Number(row.num) / 10000),
        snapshot: row.snapshot,
        pid: row.pid,
      };
      const [pgDump, pgRestore] = await tools;
      assertNewEnough(pgDump, snap.serverMajor, snap.serverVersion, 'back up');
      // pg_restore must read what this pg_dump writes.
      assertNewEnough(pgRestore, pgDump.major, pgDump.version, 'read archives of pg_dump');
      // pg_dump's arguments depend on the table list only through DBWARDEN_EXCLUDE_TABLES (partitions included).
      const excludeData = o.excludeTables.length > 0 ? (await plan).excludeData : [];
      const dumpStartedAt = performance.now();
      let countsMs = 0;
      const counted = prepared
        .then(([, p]) => countDumped(client, p))
        .then((t) => {
          countsMs = Math.round(performance.now() - dumpStartedAt);
          return t;
        });
      counted.catch(() => {});
      // pg_restore --list starts once pg_dump runs (its tap), and reads the archive's table list from it.
      const side: { listed: Promise<ArchiveListing> | null; listedAt: number } = {
        listed: null,
        listedAt: 0,
      };
      const openListing = () => {
        const lister = startListing(pgRestore);
        side.listed = lister.listing.then((l) => {
          side.listedAt = performance.now();
          return l;
        });
        side.listed.catch(() => {});
        return lister.input;
      };
      try {
        const dump = await runPgDump({
          pgDump,
          target: o.target,
          store: o.store,
          key: o.catalog.stagingKey(o.id),
          compression: o.compression,
          excludeTables: excludeData,
          snapshot: snap.snapshot,
          timeoutMs: o.timeoutMs,
          tap: openListing,
          ...(o.signal ? { signal: o.signal } : {}),
          onProgress: (bytes) => o.onBytes?.(bytes),
          onSpawn: (pid) => o.onSpawn?.(pid, identity),
        });
        const storedAt = performance.now();
        const [dbIdentity, dumpPlan] = await prepared;
        const tables = await counted;
        if (!side.listed) throw new BackupFailed('pg_restore --list was not started');
        const listing = await side.listed;
        assertComplete(dumpPlan.expectedData, listing.tableData, dump.sizeBytes);
        outcome = {
          ok: true,
          value: {
            sizeBytes: dump.sizeBytes,
            sha256: dump.sha256,
            pgDump,
            pgRestore,
            serverVersion: snap.serverVersion,
            identity: dbIdentity,
            tables,
            leftOut: dumpPlan.leftOut,
            warnings: dump.stderr,
            readBack: dump.readBack,
            dumpStartedAt,
            timings: {
              dumpMs: dump.pgDumpMs,
              countsMs,
              // What the listing added once the dump was stored (0: it was done by then).
              listMs: Math.max(0, Math.round(side.listedAt - storedAt)),
              // The store's sync and read-back after pg_dump exited (a streamed dump was hashed on its way).
              checksumMs: Math.round(storedAt - dump.exitedAt),
            },
          },
        };
      } catch (error) {
        // A failed query on this session (the table list, a count) ends the snapshot's transaction, and then
        // pg_dump fails too: the query's error is the cause.
        const sessionError = await Promise.race([
          prepared.then(
            () =>
              counted.then(
                () => null,
                (e: unknown) => countFailed(e, o.target.redact),
              ),
            (e: unknown) => e,
          ),
          new Promise((r) => setTimeout(() => r(null), 50)),
        ]);
        outcome = { ok: false, error: sessionError ?? error };
        await cancelBackend(o.target, snap.pid);
        await counted.catch(() => {});
      }
    } catch (error) {
      outcome ??= { ok: false, error };
    } finally {
      await busy.catch(() => {});
      await client.query('ROLLBACK').catch(() => {});
    }
  });
  try {
    await session;
  } catch (error) {
    // Connecting failed (TargetUnreachable) or the session broke.
    outcome ??= { ok: false, error };
  }
  const result = outcome as { ok: true; value: TakenDump } | { ok: false; error: unknown } | null;
  if (result === null) throw new BackupFailed('The backup stopped unexpectedly');
  if (!result.ok) throw result.error;
  return result.value;
}

/** Counting rows failed (a table the role may not read, a lost connection): say so plainly. */
function countFailed(err: unknown, redact: (s: string) => string): BackupFailed {
  const message = redact(err instanceof Error ? err.message : String(err));
  return new BackupFailed(
    `Counting the rows of every table failed: ${message}`,
    dumpHint(message),
    'count-failed',
  );
}

/** Cancel the counting query when the dump failed, so the session ends now rather than after a long count. */
async function cancelBackend(target: Target, pid: number): Promise<void> {
  await target.withClient((c) => c.query('SELECT pg_cancel_backend($1)', [pid])).catch(() => {});
}

/** Any error as BackupFailed, keeping its code and hint. */
export function asBackupFailed(err: unknown, redact: (s: string) => string): BackupFailed {
  if (err instanceof BackupFailed) return err;
  if (err instanceof DbwardenError) return new BackupFailed(redact(err.message), err.hint, err.code);
  return new BackupFailed(
    redact(err instanceof Error ? err.message : String(err)),
    'This is unexpected; the logs have details. Run `dbwarden backup` again.',
  );
}
