import pg from 'pg';
import { echo } from '../core/echo.js';
import { DbwardenError } from '../core/errors.js';
import { type DbIdentity, readIdentity, sameIdentity } from '../core/identity.js';
import { clientConfigOf, libpqEnvOf } from '../core/libpq.js';
import { countRows } from '../core/tables.js';
import { maskUrl, parsePostgresUrl, type Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Catalog } from '../store/catalog.js';
import { storedDigest } from '../store/manifest.js';
import { noIdentity, openArchive } from './age-open.js';
import { listArchive, restoreArchive } from './archive.js';
import { assertNewEnough, findTool } from './pg-tools.js';
import { listDumpedTables } from './table-counts.js';
import { verifyChecksum } from './verify.js';

export interface RestoreOptions {
  store: BlobStore;
  catalog: Catalog;
  id: string;
  /** The database to restore into. */
  toUrl: string;
  /** Drop the backup's objects in a non-empty target first. */
  clean: boolean;
  /** Needed to restore into the configured (production) target. */
  iKnowThisIsProduction: boolean;
  /** The configured target, to recognise it under another URL by its identity. */
  production: { url: string | null; target: Target | null };
  pgRestore: string | null;
  /** DBWARDEN_AGE_IDENTITY: decrypts an encrypted backup as it streams into pg_restore; null: not configured. */
  identities: string[] | null;
  /** Progress lines for the terminal ("Checksum verified", "Will drop …"). */
  say?: (line: string) => void;
}

export interface RestoreResult {
  id: string;
  to: string;
  /** Tables the restore dropped and recreated (with --clean). */
  dropped: string[];
  tables: { name: string; rows: number; atBackup: number }[];
  durationMs: number;
}

const refuse = (message: string, hint: string) => new DbwardenError('restore-refused', message, hint);

/** Restore a backup into a database: refuses unsafe targets, verifies the checksum first, counts rows after. */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const say = o.say ?? (() => {});
  const m = await o.catalog.read(o.id);
  if (!m)
    throw new DbwardenError(
      'backup-not-found',
      `No backup ${echo(o.id)} in ${o.store.location}`,
      'List backups with `dbwarden backups`.',
    );
  if (m.status !== 'complete')
    throw refuse(
      `Backup ${m.id} failed and cannot be restored`,
      'Pick a complete backup from `dbwarden backups`.',
    );
  // Said before anything else is touched: without the key an encrypted backup cannot be restored at all.
  if (m.encrypted && !o.identities?.length) throw noIdentity(m);
  const to = maskUrl(o.toUrl);

  const client = new pg.Client({ ...clientConfigOf(envOf(o.toUrl)), connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new DbwardenError(
      'restore-target-unreachable',
      `Cannot connect to ${to}: ${(err as Error).message.replace(/:[^@\s]+@/g, ':***@')}`,
      'Create the database first (createdb) and check the URL given to --to.',
    );
  }
  try {
    const production = o.iKnowThisIsProduction ? 'no' : await isProduction(o, client);
    if (production === 'yes')
      throw refuse(
        `${to} is the database dbwarden guards (${m.target.environment}): restoring would overwrite it`,
        'Restore into another database and compare, or add --i-know-this-is-production if you really mean it.',
      );

    const existing = await listDumpedTables(client);
    let dropped: string[] = [];
    if (existing.length > 0) {
      if (!o.clean)
        throw refuse(
          `${to} is not empty: it has ${existing.length} table(s) (${existing.slice(0, 6).join(', ')}${existing.length > 6 ? ', …' : ''})`,
          'Restore into an empty database, or add --clean to drop and recreate the backup’s objects.',
        );
      // Dropping tables in a database we could not tell apart from production is a risk we never take silently.
      if (production === 'unknown')
        throw refuse(
          `cannot tell whether ${to} is the database dbwarden guards: its identity could not be read to compare`,
          'Run the restore where the guarded database is reachable, or add --i-know-this-is-production if ' +
            `${to} may be overwritten.`,
        );
      const inBackup = new Set(Object.keys(m.tables));
      dropped = existing.filter((t) => inBackup.has(t));
      const kept = existing.filter((t) => !inBackup.has(t));
      say(`--clean: will drop and recreate ${dropped.length} table(s): ${dropped.join(', ') || 'none'}`);
      if (kept.length > 0) say(`  left as they are (not in the backup): ${kept.join(', ')}`);
    }

    await verifyChecksum(o.store, m);
    say(
      `Checksum verified: sha256 ${storedDigest(m).sha256.slice(0, 12)}…${m.encrypted ? ' (encrypted with age; decrypting as it streams into pg_restore)' : ''}`,
    );
    const pgRestore = await findTool('pg_restore', o.pgRestore);
    const dumpMajor = Number(m.pgDumpVersion.split('.')[0]);
    if (Number.isFinite(dumpMajor))
      assertNewEnough(pgRestore, dumpMajor, m.pgDumpVersion, 'read archives of pg_dump');
    // A wrong identity fails here, on the age header, before pg_restore touches the database.
    await listArchive(pgRestore, await openArchive(o.store, m, o.identities));
    say(`Restoring ${m.id} into ${to} …`);
    await restoreArchive(pgRestore, await openArchive(o.store, m, o.identities), {
      env: envOf(o.toUrl),
      clean: o.clean,
    });

    const counts = await countRows(client, Object.keys(m.tables));
    return {
      id: m.id,
      to,
      dropped,
      tables: Object.entries(m.tables).map(([name, atBackup]) => ({
        name,
        rows: counts[name] ?? 0,
        atBackup,
      })),
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Is `--to` the configured target: under the same address, or the same database found by its identity?
 * "unknown" when the target's identity could not be read (e.g. a private host unreachable from a laptop).
 */
async function isProduction(o: RestoreOptions, client: pg.Client): Promise<'yes' | 'no' | 'unknown'> {
  if (!o.production.url) return 'no';
  const a = parsePostgresUrl(o.toUrl);
  const b = parsePostgresUrl(o.production.url);
  const local = (h: string) =>
    ['localhost', '127.0.0.1', '::1'].includes(h.toLowerCase()) ? 'local' : h.toLowerCase();
  if (local(a.host) === local(b.host) && a.port === b.port && a.database === b.database) return 'yes';
  if (!o.production.target) return 'unknown';
  let prod: DbIdentity;
  try {
    prod = await o.production.target.readOnly((c) => readIdentity(c));
  } catch {
    return 'unknown';
  }
  await client.query('BEGIN READ ONLY');
  try {
    return sameIdentity(await readIdentity(client), prod) ? 'yes' : 'no';
  } finally {
    await client.query('ROLLBACK');
  }
}

function envOf(url: string): Record<string, string> {
  return { ...libpqEnvOf(parsePostgresUrl(url)), PGAPPNAME: 'dbwarden-restore' };
}
