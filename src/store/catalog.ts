import { randomBytes } from 'node:crypto';
import { echo } from '../core/echo.js';
import { BackupFailed, DbwardenError } from '../core/errors.js';
import { type DbIdentity, sameIdentity } from '../core/identity.js';
import type { FailedBackup } from '../core/status.js';
import { type BlobStore, moveObject, readText } from './blob-store.js';
import { BACKUP_FAILED_HINT, type BackupManifest, isGood, MANIFEST_PREFIX, manifestKey } from './manifest.js';

/** Dumps being written live here until they are checked; anything left here belongs to a crashed run. */
export const INCOMING_PREFIX = `${MANIFEST_PREFIX}incoming/`;
const ID_RE = /^\d{8}T\d{6}(\.\d{3})?Z-[0-9a-f]{6}$/;

/**
 * A new backup id: UTC time to the millisecond plus a random suffix, e.g. "20261124T030000.123Z-a1b2c3", so two
 * backups in the same second still sort in the order they started.
 */
export function newBackupId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Is this a backup id (and so safe in a store key and a file name)? */
export function isBackupId(id: string): boolean {
  return ID_RE.test(id);
}

/** Store key of a published dump. */
export const dumpKey = (id: string) => `${MANIFEST_PREFIX}${id}.dump`;
/** Store key of a dump while it is being written. */
export const incomingKey = (id: string) => `${INCOMING_PREFIX}${id}.dump`;

/** The manifests and dumps of one store: publish, read, list newest first, clean up after crashes. */
export interface Catalog {
  /**
   * Where a backup's dump is written while it runs: a temporary key when the store can rename cheaply (files);
   * else the final key, since the store's put is atomic anyway (S3) and only the manifest makes a dump trusted.
   */
  stagingKey(id: string): string;
  /** Move a checked dump from its staging key to its published key. */
  publishDump(id: string): Promise<void>;
  /** Write (or rewrite) a manifest atomically; it is the last thing a backup writes. */
  writeManifest(m: BackupManifest): Promise<void>;
  /** The manifest of a backup; null when there is none, `manifest-damaged` when it cannot be read. */
  read(id: string): Promise<BackupManifest | null>;
  /** Every manifest, newest first; unreadable ones are skipped. */
  list(): Promise<BackupManifest[]>;
  /** Every manifest, newest first, and apart the ones that could not be read, with why. */
  scan(): Promise<{ manifests: BackupManifest[]; unreadable: UnreadableManifest[] }>;
  /** The newest good backup of the database with this identity (see goodBackupsOf), or null. */
  newestGood(identity: DbIdentity | null): Promise<BackupManifest | null>;
  /**
   * The id a person meant (see resolveBackupRef): `latest` is the newest good backup of the database whose identity
   * `whose` gives (asked only for `latest`). Throws `backup-not-found` or `backup-ambiguous` with what to type instead.
   */
  resolve(ref: string, whose: () => Promise<DbIdentity | null>): Promise<string>;
  /**
   * Remove what crashed runs left: temporary dumps, published dumps without a manifest, and the store's
   * unfinished writes (a killed process's `.partial-` files) from before `startedAt`, the cleaning backup's start.
   * Call only while holding the backup lock, so no running backup owns them but the cleaning one, `ownId`, whose
   * objects are never touched.
   */
  cleanLeftovers(startedAt: Date, ownId: string): Promise<string[]>;
  /** Remove a backup's dump and temporary dump (not its manifest). */
  removeDump(id: string): Promise<void>;
}

/** A manifest file that is there but cannot be read: listed as such, never trusted. */
export interface UnreadableManifest {
  id: string;
  key: string;
  status: 'unreadable';
  reason: string;
}

/**
 * Manifests read at once when listing: every backup's tail (retention), status, the digest and /db-backups read them
 * all, and one after another that is a round trip each (an S3 GET, or a few file-system calls on node's thread pool).
 */
const SCAN_CONCURRENCY = 8;

/** Run `fn` on every item, at most `limit` at a time; the first failure rejects, and no further item is started. */
async function eachAtMost<T>(limit: number, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The catalog of backups kept in a store. */
export function createCatalog(store: BlobStore): Catalog {
  const catalog: Catalog = {
    stagingKey: (id) => (store.move ? incomingKey(id) : dumpKey(id)),
    async publishDump(id) {
      // Copying a whole dump to rename it would double the upload; without a cheap move it was written in place.
      if (store.move) await moveObject(store, incomingKey(id), dumpKey(id));
    },
    async writeManifest(m) {
      await store.put(manifestKey(m.id), `${JSON.stringify(m, null, 2)}\n`);
    },
    async read(id) {
      if (!isBackupId(id)) return null;
      const key = manifestKey(id);
      if (!(await store.stat(key))) return null;
      const parsed = parseManifest(await readText(store, key));
      if ('reason' in parsed) throw manifestDamaged(store.location, id, key, parsed.reason);
      return parsed.manifest;
    },
    async list() {
      return (await catalog.scan()).manifests;
    },
    async scan() {
      const keys = (await store.list(MANIFEST_PREFIX))
        .map((b) => b.key)
        .filter((k) => /^[^/]+\.json$/.test(k.slice(MANIFEST_PREFIX.length)));
      const manifests: BackupManifest[] = [];
      const unreadable: UnreadableManifest[] = [];
      await eachAtMost(SCAN_CONCURRENCY, keys, async (key) => {
        const id = key.slice(MANIFEST_PREFIX.length, -'.json'.length);
        // A manifest that cannot be read is not a backup anyone can trust: never used, but shown as such.
        const parsed = await readText(store, key).then(parseManifest, (err: unknown) => ({
          reason: `could not be read: ${err instanceof Error ? err.message : String(err)}`,
        }));
        if ('reason' in parsed) unreadable.push({ id, key, status: 'unreadable', reason: parsed.reason });
        else manifests.push(parsed.manifest);
      });
      const newestFirst = (a: { id: string }, b: { id: string }) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
      return { manifests: manifests.sort(newestFirst), unreadable: unreadable.sort(newestFirst) };
    },
    async newestGood(identity) {
      return newestGoodOf(await catalog.list(), identity);
    },
    async resolve(ref, whose) {
      if (isBackupId(ref)) return ref; // a whole id: read() says whether it exists, with its own message
      const { manifests, unreadable } = await catalog.scan();
      const identity = ref.trim().toLowerCase() === LATEST ? await whose() : null;
      const ids = [...manifests, ...unreadable].map((m) => m.id);
      const failed = identity && lastAttemptFailed(manifests, identity);
      return resolveBackupRef(ref, ids, newestGoodOf(manifests, identity)?.id ?? null, {
        location: store.location,
        identityKnown: identity !== null,
        ...(failed ? { lastFailed: failureOf(failed) } : {}),
      });
    },
    async cleanLeftovers(startedAt, ownId) {
      // This backup's objects, finished or still being written (a temporary file's name extends its key).
      const own = [incomingKey(ownId), dumpKey(ownId)];
      const isOwn = (key: string) => own.some((k) => key.startsWith(k));
      const all = (await store.list(MANIFEST_PREFIX)).filter((b) => !isOwn(b.key));
      const manifests = new Set(all.map((b) => b.key).filter((k) => k.endsWith('.json')));
      const removed: string[] = [];
      for (const b of all) {
        const rest = b.key.slice(MANIFEST_PREFIX.length);
        const orphanDump = /^[^/]+\.dump$/.test(rest) && !manifests.has(b.key.replace(/\.dump$/, '.json'));
        if (b.key.startsWith(INCOMING_PREFIX) || orphanDump) {
          await store.delete(b.key);
          removed.push(b.key);
        }
      }
      // Only writes older than this backup: a manifest being rewritten right now (a drill) is not a leftover.
      for (const b of (await store.listUnfinished?.(MANIFEST_PREFIX)) ?? [])
        if (b.modified < startedAt && !isOwn(b.key)) {
          await store.delete(b.key);
          removed.push(b.key);
        }
      return removed;
    },
    async removeDump(id) {
      await store.delete(incomingKey(id)).catch(() => {});
      await store.delete(dumpKey(id)).catch(() => {});
    },
  };
  return catalog;
}

/**
 * THE good backups of one database, newest first: complete, verified, and recorded (in the manifest's identity)
 * as taken of the database with this identity (system identifier and oid). Status, digest, guard, scheduler,
 * metrics and drill all ask this, so they cannot disagree. Another database's backups (the demo's, a replaced
 * database's) never count; with the identity unknown, no backup can be vouched for: none.
 */
export function goodBackupsOf(manifests: BackupManifest[], identity: DbIdentity | null): BackupManifest[] {
  if (!identity) return [];
  return manifests
    .filter((m) => isGood(m) && m.identity !== null && sameIdentity(m.identity, identity))
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.id < b.id ? 1 : -1));
}

/**
 * Every backup attempt that may be this database's, newest first: its own, and failed runs that could not tell
 * which database they were of (it did not answer). Another database's attempts never count.
 */
export function attemptsOf(manifests: BackupManifest[], identity: DbIdentity | null): BackupManifest[] {
  return manifests
    .filter((m) => !m.identity || !identity || sameIdentity(m.identity, identity))
    .sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
}

/**
 * The newest attempt at backing up this database when it failed (after its newest good backup, or with none): what
 * "the last backup failed" means wherever it is said (the guard, the digest, status).
 */
export function lastAttemptFailed(
  manifests: BackupManifest[],
  identity: DbIdentity | null,
): BackupManifest | null {
  const newest = attemptsOf(manifests, identity)[0];
  return newest && !isGood(newest) ? newest : null;
}

/** An attempt that is not good: which, when, why it failed and what to do, as its manifest says (or the general case). */
export function failureOf(m: BackupManifest): FailedBackup {
  return {
    id: m.id,
    finishedAt: m.finishedAt,
    message: m.error?.message ?? (m.status === 'complete' ? 'it could not be verified' : 'unknown cause'),
    hint: m.error?.hint ?? BACKUP_FAILED_HINT,
  };
}

/** The newest good backup of the database with this identity, or null. */
export function newestGoodOf(
  manifests: BackupManifest[],
  identity: DbIdentity | null,
): BackupManifest | null {
  return goodBackupsOf(manifests, identity)[0] ?? null;
}

/** The word that names the newest good backup of the guarded database wherever an id is asked for. */
export const LATEST = 'latest';

/**
 * The backup id meant by what a person typed: `latest` (the newest good backup, passed in), a whole id, or any
 * unique prefix of an id or of its random suffix (`a1b2` for `20261124T030000.123Z-a1b2c3`), so ids can be typed
 * on a phone. `ids` is every backup in the store, newest first. Not found and ambiguous are errors saying what to type.
 */
export function resolveBackupRef(
  ref: string,
  ids: readonly string[],
  newestGood: string | null,
  where: {
    location: string;
    identityKnown: boolean;
    /** The newest attempt, when it failed (lastAttemptFailed): why there is no good one, and the fix. */
    lastFailed?: Pick<FailedBackup, 'id' | 'message' | 'hint'>;
  },
): string {
  const typed = ref.trim();
  if (typed.toLowerCase() === LATEST) {
    if (newestGood) return newestGood;
    const failed = where.lastFailed;
    throw new DbwardenError(
      'backup-not-found',
      !where.identityKnown
        ? `Cannot tell which backups in ${where.location} are this database's: it does not answer and dbwarden has no record of it, so there is no "latest".`
        : failed
          ? `No good backup of this database in ${where.location} yet, so there is no "latest": the last attempt (${failed.id}) failed: ${failed.message}`
          : `No good backup of this database in ${where.location} yet, so there is no "latest".`,
      !where.identityKnown
        ? 'Name a backup id from `dbwarden backups`.'
        : failed
          ? failed.hint
          : 'Take one with `dbwarden backup`, or name a backup id from `dbwarden backups`.',
    );
  }
  if (ids.includes(typed)) return typed;
  const lower = typed.toLowerCase();
  const suffix = (id: string) => id.slice(id.lastIndexOf('-') + 1);
  const matches =
    lower.length === 0
      ? []
      : ids.filter((id) => id.toLowerCase().startsWith(lower) || suffix(id).startsWith(lower));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new DbwardenError(
      'backup-not-found',
      `No backup ${echo(typed)} in ${where.location}`,
      'List backups with `dbwarden backups`; type a whole id, its last characters (e.g. `a1b2`), or `latest`.',
    );
  const shown = matches.slice(0, 5).join(', ');
  throw new DbwardenError(
    'backup-ambiguous',
    `${echo(typed)} matches ${matches.length} backups in ${where.location}: ${shown}${matches.length > 5 ? ', …' : ''}`,
    'Type more of the id (or `latest` for the newest good backup).',
  );
}

/** A manifest's text as a manifest, or why it is not one (damaged JSON, missing id or status). */
function parseManifest(text: string): { manifest: BackupManifest } | { reason: string } {
  let m: BackupManifest;
  try {
    m = JSON.parse(text) as BackupManifest;
  } catch (err) {
    return { reason: `not valid JSON (${echo((err as Error).message, 120)})` };
  }
  if (!m || typeof m.id !== 'string' || !isBackupId(m.id) || typeof m.status !== 'string')
    return { reason: 'not a dbwarden manifest (no backup id or status)' };
  return { manifest: m };
}

/** What verify and restore say about a backup whose manifest is there but cannot be read. */
function manifestDamaged(location: string, id: string, key: string, reason: string): DbwardenError {
  return new DbwardenError(
    'manifest-damaged',
    `The manifest of backup ${id} (${key} in ${location}) is damaged: ${reason}.`,
    `Without its manifest the dump cannot be checked or trusted: use another backup (\`dbwarden backups\`) or take a new one (\`dbwarden backup\`), then move ${key} and ${dumpKey(id)} out of the store.`,
  );
}

/**
 * The empty-dump guard: a dump must hold data for every table the database had (minus excluded ones).
 * Returns the expected tables that the archive lacks.
 */
export function missingTables(expected: string[], tableData: string[]): string[] {
  const have = new Set(tableData);
  return expected.filter((t) => !have.has(t));
}

/** Fail a dump that is empty or lacks tables: the silent empty-dump bug must never pass as success. */
export function assertComplete(expected: string[], tableData: string[], sizeBytes: number): void {
  if (sizeBytes === 0) throw new BackupFailed('The dump is empty', undefined, 'dump-incomplete');
  const missing = missingTables(expected, tableData);
  if (missing.length > 0)
    throw new BackupFailed(
      `The dump holds data for ${expected.length - missing.length} of ${expected.length} tables; missing: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`,
      'The role may not see every table, or pg_dump skipped some: check its permissions and DBWARDEN_EXCLUDE_TABLES.',
      'dump-incomplete',
    );
}
