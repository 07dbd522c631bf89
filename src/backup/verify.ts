import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { asDbwardenError, BackupFailed, DbwardenError } from '../core/errors.js';
import { readIdentity, sameIdentity } from '../core/identity.js';
import { clientConfigOf, libpqEnvOf } from '../core/libpq.js';
import { countRows } from '../core/tables.js';
import { parsePostgresUrl, type Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Catalog } from '../store/catalog.js';
import { type BackupManifest, storedDigest } from '../store/manifest.js';
import { noIdentity, openArchive } from './age-open.js';
import { listArchive, restoreArchive } from './archive.js';
import { tryDrillLock } from './lock.js';
import type { PgTool } from './pg-tools.js';
import { listDataRelations } from './table-counts.js';
import { collectEvery, STREAM_COLLECT_BYTES } from './young-gc.js';

/** Re-read a stored object and hash it: what is in the store, not what we meant to write. */
export async function hashObject(store: BlobStore, key: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  // A fresh buffer per read, freed as it goes (young-gc.ts): the re-read of a 62 MB dump otherwise piles ~30 MB up.
  const collect = collectEvery(STREAM_COLLECT_BYTES);
  for await (const chunk of await store.get(key)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    collect((chunk as Buffer).length);
  }
  return { sha256: hash.digest('hex'), size };
}

/** Checksum (a): the stored dump (for an encrypted backup, the encrypted object) must match the manifest byte for byte. */
export async function verifyChecksum(store: BlobStore, m: BackupManifest): Promise<void> {
  if (!(await store.stat(m.dumpKey)))
    throw new BackupFailed(
      `Backup ${m.id}: its dump ${m.dumpKey} is missing from ${store.location}`,
      'The dump was deleted or the store changed; take a new backup.',
      'dump-missing',
    );
  assertChecksum(m, await hashObject(store, m.dumpKey));
}

/** The stored bytes' SHA-256 and size must be the manifest's: else the backup is damaged. */
export function assertChecksum(m: BackupManifest, got: { sha256: string; size: number }): void {
  const want = storedDigest(m);
  if (got.sha256 !== want.sha256 || got.size !== want.size)
    throw new BackupFailed(
      `Backup ${m.id} is damaged: its ${m.encrypted ? 'encrypted object’s ' : ''}SHA-256 is ${got.sha256.slice(0, 12)}… (${got.size} bytes), the manifest says ${want.sha256.slice(0, 12)}… (${want.size} bytes)`,
      'Do not restore it; take a new backup and check the store’s disk or bucket.',
      'checksum-mismatch',
    );
}

/**
 * Checksum (a) and archive listing (b); throws BackupFailed naming the first problem. An encrypted backup is listed
 * only with an identity: without one its checksum is the proof (the archive was listed as plaintext when it was
 * taken, and age authenticates every chunk of what the checksum covers).
 */
export async function verifyStored(
  store: BlobStore,
  pgRestore: PgTool,
  m: BackupManifest,
  identities: string[] | null = null,
): Promise<void> {
  await verifyChecksum(store, m);
  if (m.encrypted && !identities) return;
  await listArchive(pgRestore, await openArchive(store, m, identities));
}

export interface DrillDeps {
  store: BlobStore;
  target: Target;
  pgRestore: PgTool;
  /** A scratch database to restore into; null: a temporary database on the target's server, if the role may. */
  drillUrl: string | null;
  /** DBWARDEN_AGE_IDENTITY: decrypts an encrypted backup; without it such a drill is skipped (it throws). */
  identities?: string[] | null;
  clock?: () => Date;
}

type Drill = NonNullable<BackupManifest['drill']>;

/**
 * Restore drill (c): restore the dump into a scratch database, compare every table's row count with the
 * manifest, then drop what was restored. A failed drill is a result, not a throw; only a drill that cannot start
 * (no scratch database) throws, since it says nothing about the backup.
 */
export async function restoreDrill(d: DrillDeps, m: BackupManifest): Promise<Drill> {
  const clock = d.clock ?? (() => new Date());
  const at = clock().toISOString();
  const started = performance.now();
  const result = (ok: boolean, tables: number, rows: number, problem?: string): Drill => ({
    at,
    ok,
    tables,
    rows,
    durationMs: Math.round(performance.now() - started),
    ...(problem ? { problem: d.target.redact(problem) } : {}),
  });
  // No scratch database (no CREATEDB, DBWARDEN_DRILL_URL is the target or unreachable): the drill cannot run, which
  // says nothing about the backup; the caller reports the setup problem with its hint. No identity, or a wrong one,
  // for an encrypted backup is the same kind of problem: the archive is opened (its age header checked) first.
  if (m.encrypted && !d.identities?.length) throw noIdentity(m, true);
  const archive = await openArchive(d.store, m, d.identities ?? null, { forDrill: true });
  const scratch = await openScratch(d).catch((err: unknown) => {
    archive.destroy();
    throw err;
  });
  try {
    await restoreArchive(d.pgRestore, archive, { env: scratch.env });
    const client = new pg.Client(scratch.clientConfig);
    await client.connect();
    let counts: Record<string, number>;
    try {
      const present = new Set(await listDataRelations(client));
      const wanted = Object.keys(m.tables);
      const missing = wanted.filter((t) => !present.has(t));
      if (missing.length > 0)
        return result(
          false,
          wanted.length - missing.length,
          0,
          `tables missing after restore: ${missing.join(', ')}`,
        );
      counts = await countRows(client, wanted);
    } finally {
      await client.end().catch(() => {});
    }
    const rows = Object.values(counts).reduce((a, b) => a + b, 0);
    const differ = Object.entries(m.tables)
      .filter(([t, n]) => counts[t] !== n)
      .map(([t, n]) => `${t}: ${counts[t]} rows restored, ${n} at dump time`);
    return result(differ.length === 0, Object.keys(counts).length, rows, differ.join('; ') || undefined);
  } catch (err) {
    return result(false, 0, 0, err instanceof Error ? err.message : String(err));
  } finally {
    await scratch.dispose().catch(() => {});
  }
}

interface Scratch {
  env: Record<string, string>;
  clientConfig: pg.ClientConfig;
  dispose(): Promise<void>;
}

/** The drill database: the configured one wiped clean, or a fresh temporary database on the target server. */
async function openScratch(d: DrillDeps): Promise<Scratch> {
  if (d.drillUrl) {
    const p = parsePostgresUrl(d.drillUrl);
    const env = libpqEnvOf(p);
    const clientConfig = { connectionString: d.drillUrl, application_name: 'dbwarden-drill' };
    await assertNotTheTarget(d.target, clientConfig);
    const wipe = async () => {
      const c = new pg.Client(clientConfig);
      await c.connect();
      try {
        await wipeUserSchemas(c);
      } finally {
        await c.end().catch(() => {});
      }
    };
    await wipe();
    return { env, clientConfig, dispose: wipe };
  }
  const name = `dbwarden_drill_${randomBytes(4).toString('hex')}`;
  const allowed = await d.target.withClient(async (c) => {
    const r = await c.query<{ ok: boolean }>(
      'SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user',
    );
    return Boolean(r.rows[0]?.ok);
  });
  if (!allowed)
    throw new DbwardenError(
      'drill-no-scratch',
      `The role ${d.target.user} may not create a scratch database on ${d.target.host} for the drill`,
      'Set DBWARDEN_DRILL_URL to an empty database the drill may overwrite, or grant the role CREATEDB.',
    );
  await d.target.withClient((c) => c.query(`CREATE DATABASE ${name}`));
  const env = { ...d.target.libpqEnv(), PGDATABASE: name, PGAPPNAME: 'dbwarden-drill' };
  return {
    env,
    clientConfig: clientConfigOf(env),
    async dispose() {
      await d.target.withClient((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** The drill wipes its database: it must never be the guarded one, under any address. */
async function assertNotTheTarget(target: Target, clientConfig: pg.ClientConfig): Promise<void> {
  const refuse = () =>
    new DbwardenError(
      'drill-is-target',
      `DBWARDEN_DRILL_URL points at the database dbwarden guards (${target.display}): a drill would wipe it`,
      'Point DBWARDEN_DRILL_URL at a separate, disposable database.',
    );
  const c = new pg.Client(clientConfig);
  await c.connect();
  try {
    await c.query('BEGIN READ ONLY');
    const scratch = await readIdentity(c);
    await c.query('ROLLBACK');
    const guarded = await target.readOnly((t) => readIdentity(t));
    if (sameIdentity(scratch, guarded)) throw refuse();
  } finally {
    await c.end().catch(() => {});
  }
}

/** Drop every user schema and recreate an empty public: the scratch database's "clean". */
async function wipeUserSchemas(c: pg.ClientBase): Promise<void> {
  const r = await c.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')
       AND nspname NOT LIKE 'pg\\_%'`,
  );
  for (const { nspname } of r.rows) await c.query(`DROP SCHEMA "${nspname.replace(/"/g, '""')}" CASCADE`);
  await c.query('CREATE SCHEMA IF NOT EXISTS public');
}

/** Problems that prove a dump bad (as opposed to failing to look at it). */
const VERDICTS = new Set(['dump-missing', 'checksum-mismatch', 'archive-unreadable']);

/**
 * Run checks on a stored backup and record the outcome in its manifest (rewritten atomically). With `drill`, only
 * while holding the target's drill lock: a drill running elsewhere (chat, the schedule, the CLI, a replica) refuses
 * this one with `drill-running` before anything is checked or recorded.
 */
export async function verifyAndRecord(
  deps: {
    store: BlobStore;
    catalog: Catalog;
    pgRestore: PgTool;
    clock?: () => Date;
  } & Partial<DrillDeps>,
  m: BackupManifest,
  opts: { drill: boolean; requestedBy?: string },
): Promise<{ manifest: BackupManifest; problem: DbwardenError | null }> {
  if (!opts.drill || !deps.target) return checkAndRecord(deps, m, opts);
  const target = deps.target;
  // The label names the backup by its random suffix (a short id people can type) and who asked, within the 63
  // bytes of application_name.
  const lock = await tryDrillLock(target, `${m.id.slice(-6)} by ${opts.requestedBy ?? 'dbwarden'}`);
  if ('busy' in lock) throw drillRunning(target.name, lock.holder);
  try {
    return await checkAndRecord(deps, m, opts);
  } finally {
    await lock.release();
  }
}

/** The refusal of a second drill: which backup the running one drills and who started it, when the server tells. */
function drillRunning(target: string, holder: string | null): DbwardenError {
  const [suffix, by] = holder?.split(' by ') ?? [];
  return new DbwardenError(
    'drill-running',
    `A restore drill of ${target}${suffix ? ` (backup …${suffix})` : ''} is already running${by ? `, started by ${by}` : ''}: drills run one at a time`,
    'Wait for it to finish (its result is recorded in that backup’s manifest), then run this one again.',
  );
}

async function checkAndRecord(
  deps: Parameters<typeof verifyAndRecord>[0],
  m: BackupManifest,
  opts: { drill: boolean },
): Promise<{ manifest: BackupManifest; problem: DbwardenError | null }> {
  const clock = deps.clock ?? (() => new Date());
  let problem: DbwardenError | null = null;
  try {
    await verifyStored(deps.store, deps.pgRestore, m, deps.identities ?? null);
  } catch (err) {
    problem =
      err instanceof DbwardenError ? err : new BackupFailed(err instanceof Error ? err.message : String(err));
  }
  // Only a verdict about the dump itself changes `verified`: a store or network hiccup while re-reading must not
  // turn a good backup into one retention may delete.
  const conclusive = problem === null || VERDICTS.has(problem.code);
  const next: BackupManifest = conclusive
    ? { ...m, verified: problem === null, verifiedAt: clock().toISOString() }
    : { ...m };
  if (opts.drill && problem === null && deps.target) {
    const drill = await restoreDrill(
      {
        store: deps.store,
        target: deps.target,
        pgRestore: deps.pgRestore,
        drillUrl: deps.drillUrl ?? null,
        identities: deps.identities ?? null,
        clock,
      },
      m,
    ).catch((err: unknown) => {
      problem = asDbwardenError(err);
      return null;
    });
    if (drill) next.drill = drill;
    if (drill && !drill.ok)
      problem = new BackupFailed(
        `Restore drill of ${m.id} failed: ${drill.problem ?? 'unknown problem'}`,
        'The backup may not restore: take a new backup and look at the drill problem.',
        'drill-failed',
      );
  }
  await deps.catalog.writeManifest(next);
  return { manifest: next, problem };
}
