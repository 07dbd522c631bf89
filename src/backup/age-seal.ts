import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline, Readable, Transform } from 'node:stream';
import { pipeline as pipelineTo } from 'node:stream/promises';
import type { ReadableStream as WebReadable } from 'node:stream/web';
import { BackupFailed, ConfigError } from '../core/errors.js';
import type { BlobInfo, BlobStore } from '../store/blob-store.js';
import { collectEvery, SEALED_COLLECT_BYTES, shrinkHeap } from './young-gc.js';

/** The age library (typage), loaded only where a backup is encrypted or decrypted: it costs ~200 ms to load. */
export function loadAge(): Promise<typeof import('age-encryption')> {
  return import('age-encryption');
}

/**
 * Check every recipient with the age library itself (its checksum, its type): a typo is a start-up error naming
 * DBWARDEN_AGE_RECIPIENTS, never a failed backup at 3 a.m.
 */
export async function checkRecipients(recipients: string[]): Promise<void> {
  const { Encrypter } = await loadAge();
  const bad = recipients.filter((r) => {
    try {
      new Encrypter().addRecipient(r);
      return false;
    } catch {
      return true;
    }
  });
  if (bad.length > 0)
    throw new ConfigError([
      `DBWARDEN_AGE_RECIPIENTS: ${bad.length} of ${recipients.length} key(s) is not a valid age public key (a typo breaks its checksum): ${bad.map((r) => `${r.slice(0, 12)}…`).join(', ')}`,
    ]);
}

export interface Sealed {
  /** The age recipients it was encrypted to. */
  recipients: string[];
  /** The stored (encrypted) object's SHA-256 and size, hashed as it streamed into the store. */
  storedSha256: string;
  storedSizeBytes: number;
  /** The store's object was read back and matched `storedSha256` (a directory store): no re-read needed. */
  readBack: boolean;
  /** From the first byte in to the stored object's commit: encryption runs alongside pg_dump, not after it. */
  encryptMs: number;
}

/**
 * A Node stream as the age library takes it (a web stream), pulled: the source is read only as fast as age and what
 * comes after it consume, so a slow store upload or a slow pg_restore never makes it buffer the object.
 */
export function pulled(source: Readable): ReadableStream<Uint8Array> {
  const chunks = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value as Uint8Array);
      },
      async cancel(reason) {
        source.destroy(reason instanceof Error ? reason : undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * The stream `body` encrypted with age to `recipients`, written to `store` under `key` while the written bytes are
 * hashed: memory stays flat (age works in 64 KiB chunks, pulled, and the chunks are collected as they go), and the
 * store's write is atomic as ever, so a failure on either side (pg_dump, a check, the store) commits nothing. A
 * directory store reads the file back once into one buffer, as for a plain dump, and that digest must be the
 * streamed one; any other store (S3) is re-read by the backup after publishing.
 */
export async function sealInto(
  store: BlobStore,
  key: string,
  body: Readable,
  recipients: string[],
  opts: { signal?: AbortSignal } = {},
): Promise<{ info: BlobInfo; sealed: Sealed }> {
  const started = performance.now();
  // A failure of the plaintext (pg_dump, the dump's checks) ends the encrypted stream with it, and the store's put
  // then removes its temporary object; one that comes while the library loads is kept for the stream once it exists.
  const ends: { sealed: Readable | null; failed: Error | null } = { sealed: null, failed: null };
  body.once('error', (err) => {
    ends.failed = err;
    ends.sealed?.destroy(err);
  });
  const { Encrypter } = await loadAge();
  // Before the stream starts, and after loading the library: its start-up garbage goes too.
  shrinkHeap();
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  const sealed = Readable.fromWeb((await e.encrypt(pulled(body))) as unknown as WebReadable<Uint8Array>);
  // The store's pipeline reads the stream's stored error when it starts (a directory store first creates its
  // temporary file); until then a failure must not surface as an uncaught 'error' event.
  sealed.on('error', () => {});
  ends.sealed = sealed;
  if (ends.failed) sealed.destroy(ends.failed);
  const hash = createHash('sha256');
  let size = 0;
  const collect = collectEvery(SEALED_COLLECT_BYTES);
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      collect(chunk.length);
      cb(null, chunk);
    },
  });
  let info: BlobInfo;
  let storedSha256: string;
  if (store.putFile) {
    const stored = await store.putFile(
      key,
      async (path) => {
        await pipelineTo(sealed, meter, createWriteStream(path), opts.signal ? { signal: opts.signal } : {});
        // The stream is over: give back what it grew (the young generation, promoted chunks) before the store's
        // read-back takes its buffers, or the two would add up to the backup's peak.
        shrinkHeap();
      },
      opts,
    );
    storedSha256 = hash.digest('hex');
    if (stored.sha256 !== storedSha256 || stored.size !== size)
      throw new BackupFailed(
        `The encrypted dump read back from ${store.location} is not what was written: SHA-256 ${stored.sha256.slice(0, 12)}… (${stored.size} bytes), written ${storedSha256.slice(0, 12)}… (${size} bytes)`,
        'Check the store’s disk, then run `dbwarden backup` again; older backups are untouched.',
        'checksum-mismatch',
      );
    info = stored;
  } else {
    info = await store.put(
      key,
      pipeline(sealed, meter, () => {}),
      opts,
    );
    storedSha256 = hash.digest('hex');
  }
  return {
    info,
    sealed: {
      recipients,
      storedSha256,
      storedSizeBytes: size,
      readBack: Boolean(store.putFile),
      encryptMs: Math.round(performance.now() - started),
    },
  };
}

/**
 * Where a backup's dump goes. Plain: the store itself (a directory store lets pg_dump write its file). Encrypted: a
 * store whose `put` encrypts, so pg_dump's output streams through dbwarden: hashed, and fed to `pg_restore --list`,
 * as plaintext, then encrypted into the store, all while pg_dump runs. The plaintext never touches a disk, and the
 * backup is published only once those checks passed (backup-service, as for any streamed dump).
 */
export interface DumpDestination {
  store: BlobStore;
  /** The encrypted object's digest once the dump is stored; null for a plain backup. */
  sealed(): Sealed | null;
}

/** The destination for a backup of `store`: encrypted to `recipients` when there are any. */
export function dumpDestination(store: BlobStore, recipients: string[] | null): DumpDestination {
  if (!recipients || recipients.length === 0) return { store, sealed: () => null };
  let last: Sealed | null = null;
  // No putFile: pg_dump writes to its stdout, and the bytes come to put. Everything else is the store's own.
  const sealing: BlobStore = {
    location: store.location,
    async put(key, body, opts) {
      const source =
        typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
      const { info, sealed } = await sealInto(store, key, source, recipients, opts);
      last = sealed;
      return info;
    },
    get: (key) => store.get(key),
    stat: (key) => store.stat(key),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    ...(store.move ? { move: store.move.bind(store) } : {}),
    ...(store.listUnfinished ? { listUnfinished: store.listUnfinished.bind(store) } : {}),
  };
  return {
    store: sealing,
    sealed: () => {
      if (!last) throw new Error('the encrypted dump was never written');
      return last;
    },
  };
}
