import type { Readable } from 'node:stream';

/** One stored object. Keys use "/" separators, e.g. "backups/20261124T030000Z-a1b2.dump". */
export interface BlobInfo {
  key: string;
  size: number;
  modified: Date;
}

/**
 * Where backups and dbwarden's memory live: a directory or an S3 bucket. `put` is atomic: readers see
 * either the whole object or nothing, so a crash mid-write never leaves a half object under its real key.
 */
export interface BlobStore {
  /** Shown to users: a path or s3://bucket/prefix (never credentials). */
  readonly location: string;
  put(key: string, body: Readable | Buffer | string, opts?: { signal?: AbortSignal }): Promise<BlobInfo>;
  /**
   * Where the store is a local directory: let a writer (pg_dump -f) fill a temporary file at `path`, then sync it,
   * hash it reading it back once, and publish it atomically as `put` does. Absent: stream to `put` instead.
   */
  putFile?(
    key: string,
    fill: (path: string) => Promise<void>,
    opts?: { signal?: AbortSignal },
  ): Promise<BlobInfo & { sha256: string }>;
  get(key: string): Promise<Readable>;
  stat(key: string): Promise<BlobInfo | null>;
  /** Objects whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<BlobInfo[]>;
  delete(key: string): Promise<void>;
  /**
   * Writes that never finished, under the temporary names `put` uses (a file store's `.partial-` files): what a
   * process killed mid-write left behind. `list` never shows them. Absent: the store leaves nothing (S3).
   */
  listUnfinished?(prefix: string): Promise<BlobInfo[]>;
  /** Rename an object atomically and cheaply, where the store can (a file rename); see moveObject. */
  move?(from: string, to: string): Promise<BlobInfo>;
  /** Drop open connections (S3), so a command exits once it has answered, not when a stuck request gives up. */
  close?(): void;
}

/** Move an object: the store's own rename when it has one, else copy then delete. */
export async function moveObject(store: BlobStore, from: string, to: string): Promise<BlobInfo> {
  if (store.move) return store.move(from, to);
  const info = await store.put(to, await store.get(from));
  await store.delete(from);
  return info;
}

/** Read a whole (small) object as text, e.g. a manifest or a snapshot. */
export async function readText(store: BlobStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Is this key safe (no "..", no absolute path, printable)? Every store checks it before touching anything. */
export function assertSafeKey(key: string): void {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) ||
    key.split('/').some((p) => p === '.' || p === '..')
  )
    throw new Error(`unsafe store key: ${JSON.stringify(key.slice(0, 80))}`);
}
