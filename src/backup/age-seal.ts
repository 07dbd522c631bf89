import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadable } from 'node:stream/web';
import { BackupFailed, ConfigError, DbwardenError } from '../core/errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { createFileStore } from '../store/file-store.js';

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

const SCRATCH = 'dbwarden-plain-';

/**
 * Where an encrypted backup's plaintext archive is written and checked before it is encrypted: a private (0700)
 * temporary directory holding one 0600 file, removed by dispose(). The directory's name carries this process's
 * id, so a later backup removes what a killed process left (see removeAbandonedScratch).
 */
export async function openPlainScratch(): Promise<{ store: BlobStore; dispose(): Promise<void> }> {
  await removeAbandonedScratch();
  const dir = await mkdtemp(join(tmpdir(), `${SCRATCH}${process.pid}-`));
  return {
    store: createFileStore(dir),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Remove plaintext scratch directories of dbwarden processes that no longer run (killed mid-backup). */
async function removeAbandonedScratch(): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(/^dbwarden-plain-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => {});
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Sealed {
  /** The stored (encrypted) object's SHA-256 and size, hashed as it streamed into the store. */
  storedSha256: string;
  storedSizeBytes: number;
  encryptMs: number;
}

/**
 * Encrypt the archive at `from`/`key` to the recipients with age, streaming into `to`/`key` and hashing what is
 * written: memory stays flat (age works in 64 KiB chunks, with backpressure), and `to.put` is atomic as ever.
 */
export async function sealInto(o: {
  from: BlobStore;
  to: BlobStore;
  key: string;
  recipients: string[];
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
}): Promise<Sealed> {
  const started = performance.now();
  const { Encrypter } = await loadAge();
  const e = new Encrypter();
  for (const r of o.recipients) e.addRecipient(r);
  const plain = Readable.toWeb(await o.from.get(o.key)) as unknown as ReadableStream<Uint8Array>;
  const sealed = Readable.fromWeb((await e.encrypt(plain)) as unknown as WebReadable<Uint8Array>);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      o.onBytes?.(size);
      cb(null, chunk);
    },
  });
  // pipeline carries a failure on either side to the store's put, which then removes its temporary object.
  const body = pipeline(sealed, meter, () => {});
  await o.to.put(o.key, body, o.signal ? { signal: o.signal } : {});
  return {
    storedSha256: hash.digest('hex'),
    storedSizeBytes: size,
    encryptMs: Math.round(performance.now() - started),
  };
}

/**
 * Where a backup's dump goes and how it reaches the store. Plain: pg_dump writes into the store itself. Encrypted:
 * pg_dump writes a private scratch file, every check (SHA-256, pg_restore --list, completeness) reads that
 * plaintext, then `seal` encrypts it into the store under the same key; `dispose` removes the plaintext, whatever
 * happened.
 */
export interface DumpDestination {
  store: BlobStore;
  seal(
    key: string,
    opts: { signal?: AbortSignal; onBytes?: (bytes: number) => void },
  ): Promise<(Sealed & { recipients: string[] }) | null>;
  dispose(): Promise<void>;
}

/** The destination for a backup of `store`: encrypted to `recipients` when there are any. */
export async function dumpDestination(
  store: BlobStore,
  recipients: string[] | null,
): Promise<DumpDestination> {
  if (!recipients || recipients.length === 0)
    return { store, seal: async () => null, dispose: async () => {} };
  const scratch = await openPlainScratch();
  return {
    store: scratch.store,
    async seal(key, opts) {
      const sealed = await sealInto({ from: scratch.store, to: store, key, recipients, ...opts }).catch(
        (err: unknown) => {
          // Stopped while encrypting (Ctrl-C, shutdown): a cancellation, as when pg_dump is stopped, not a failure.
          if (!opts.signal?.aborted) throw err;
          const reason: unknown = opts.signal.reason;
          throw reason instanceof DbwardenError
            ? reason
            : new BackupFailed('The backup was cancelled', undefined, 'cancelled');
        },
      );
      await scratch.dispose();
      return { ...sealed, recipients };
    },
    dispose: scratch.dispose,
  };
}
