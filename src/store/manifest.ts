import type { DbIdentity } from '../core/identity.js';

/** What to do about a failed backup whose error names no fix of its own. */
export const BACKUP_FAILED_HINT =
  'Fix the cause, then run `dbwarden backup` (or /backup-now) and check it completes.';

/**
 * What dbwarden knows about one backup, stored as JSON next to the dump ("backups/<id>.json") and written last.
 * A backup is good only when status is "complete" and its checksum verified.
 */
export interface BackupManifest {
  /** Sorts by time and is safe as a file name: "20261124T030000.123Z-a1b2c3". */
  id: string;
  target: { name: string; environment: string; display: string };
  status: 'complete' | 'failed';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Store key of the dump, e.g. "backups/<id>.dump". */
  dumpKey: string;
  /** The archive's size and SHA-256: what pg_dump wrote (plaintext; for a plain backup, also the stored object). */
  sizeBytes: number;
  sha256: string;
  /**
   * "age": the stored object is the archive encrypted with age (age-encryption.org/v1) to `recipients`; its own size
   * and SHA-256 are storedSizeBytes and storedSha256, checked by verify without any key. Absent: stored as is.
   */
  encrypted?: 'age';
  /** The age recipients (public keys, not secrets) it was encrypted to: a restore needs one's identity. */
  recipients?: string[];
  storedSizeBytes?: number;
  storedSha256?: string;
  format: 'custom';
  pgDumpVersion: string;
  serverVersion: string;
  identity: DbIdentity | null;
  /** Exact row counts per "schema.table" at dump time (taken in the dump's snapshot when possible). */
  tables: Record<string, number>;
  /**
   * Tables of the database whose rows the dump does not (all) hold on purpose, and why: DBWARDEN_EXCLUDE_TABLES,
   * or owned by an extension. Absent in manifests written before dbwarden recorded it.
   */
  leftOut?: Record<string, string>;
  /** Who asked: "schedule", "cli", "slack:U123", "discord:123", "preflight", "deploy". */
  requestedBy: string;
  /**
   * The stored bytes match their SHA-256 (`sha256`, or `storedSha256` when encrypted: a file read back after it was
   * written, an S3 object re-read after upload and equal to the streamed hash) and `pg_restore --list` of the archive
   * listed every table; `verify` re-reads.
   */
  verified: boolean;
  verifiedAt: string | null;
  /** The last restore drill, if any. */
  drill: {
    at: string;
    ok: boolean;
    tables: number;
    rows: number;
    durationMs: number;
    problem?: string;
  } | null;
  /** Where the backup's time went; absent in manifests written before dbwarden recorded it. */
  timings?: BackupTimings;
  /** Why it failed, when status is "failed" (secrets masked). */
  error?: { code: string; message: string; hint?: string };
}

/** Milliseconds of each phase of a backup (the README's breakdown reads these). */
export interface BackupTimings {
  /** Lock, leftovers, snapshot, table list and tool versions: until pg_dump starts. */
  prepareMs: number;
  /** pg_dump running, start to exit (writing the store's file itself, or streaming into the store). */
  dumpMs: number;
  /** Exact row counts in the dump's snapshot, on the backup's session while pg_dump runs on its own. */
  countsMs: number;
  /** What `pg_restore --list` of the archive added once the dump was stored (0: it was done by then). */
  listMs: number;
  /** After pg_dump exited: syncing and hashing the stored file (read back once), or re-reading a streamed object. */
  checksumMs: number;
  /** Encrypting into the store (0: not encrypted): from the dump's first byte to the stored object, alongside pg_dump. */
  encryptMs: number;
  /** Moving the dump from its temporary key to its published one. */
  publishMs: number;
}

/** What the store holds for a backup, byte for byte: the encrypted object's digest, else the archive's own. */
export function storedDigest(m: BackupManifest): { sha256: string; size: number } {
  return m.encrypted
    ? { sha256: m.storedSha256 ?? '', size: m.storedSizeBytes ?? -1 }
    : { sha256: m.sha256, size: m.sizeBytes };
}

/** A good backup: complete and verified. Only these count for status, guard and retention. */
export function isGood(m: BackupManifest): boolean {
  return m.status === 'complete' && m.verified;
}

/** Manifests live at "backups/<id>.json"; ids sort by time. */
export const MANIFEST_PREFIX = 'backups/';

/** The store key of a backup's manifest. */
export function manifestKey(id: string): string {
  return `${MANIFEST_PREFIX}${id}.json`;
}
