import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Decrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealInto } from '../src/backup/age-seal.js';
import { collectEvery } from '../src/backup/young-gc.js';
import type { BlobStore } from '../src/store/blob-store.js';
import { createFileStore } from '../src/store/file-store.js';

const root = mkdtempSync(join(tmpdir(), 'dbwarden-age-seal-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let identity = '';
let recipient = '';
beforeAll(async () => {
  identity = await generateX25519Identity();
  recipient = await identityToRecipient(identity);
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** A plaintext stream in pipe-sized chunks, as pg_dump's stdout arrives. */
const chunked = (b: Buffer, size = 32 * 1024) =>
  Readable.from(
    Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size)),
  );

async function decrypt(bytes: Uint8Array): Promise<Buffer> {
  const d = new Decrypter();
  d.addIdentity(identity);
  return Buffer.from(await d.decrypt(bytes));
}

describe('sealInto: a dump encrypted into the store as it streams', () => {
  const plain = randomBytes(3 * 1024 * 1024 + 123);

  it('a directory store: written in place and read back once, the digest proved, nothing to re-read', async () => {
    const store = createFileStore(mkdtempSync(join(root, 'file-')));
    const { info, sealed } = await sealInto(store, 'backups/a.dump', chunked(plain), [recipient]);
    const stored = readFileSync(join(store.location, 'backups', 'a.dump'));
    expect(sealed.readBack).toBe(true);
    expect(sealed.storedSha256).toBe(sha256(stored));
    expect(sealed.storedSizeBytes).toBe(stored.length);
    expect(info.size).toBe(stored.length);
    expect((await decrypt(stored)).equals(plain)).toBe(true);
  });

  it('a store that only streams (as S3): hashed on its way, left for the backup to re-read', async () => {
    const files = createFileStore(mkdtempSync(join(root, 'stream-')));
    const { putFile: _none, ...streaming } = files;
    const { sealed } = await sealInto(streaming as BlobStore, 'backups/b.dump', chunked(plain), [recipient]);
    const stored = readFileSync(join(files.location, 'backups', 'b.dump'));
    expect(sealed.readBack).toBe(false);
    expect(sealed.storedSha256).toBe(sha256(stored));
    expect((await decrypt(stored)).equals(plain)).toBe(true);
  });

  it('a file that reads back other than written (a bad disk): checksum-mismatch, and no object is left', async () => {
    const files = createFileStore(mkdtempSync(join(root, 'bad-')));
    // The real store, with one byte of the written file flipped before the store syncs and reads it back.
    const flipping: BlobStore = {
      ...files,
      putFile: (key, fill, opts) =>
        files.putFile!(
          key,
          async (path) => {
            await fill(path);
            const b = readFileSync(path);
            b[b.length >> 1]! ^= 1;
            writeFileSync(path, b);
          },
          opts,
        ),
    };
    await expect(sealInto(flipping, 'backups/c.dump', chunked(plain), [recipient])).rejects.toMatchObject({
      code: 'checksum-mismatch',
    });
    // putFile published under the (temporary) key it was given; the backup's failure path removes that key.
    await files.delete('backups/c.dump');
    expect(readdirSync(join(files.location, 'backups'))).toEqual([]);
  });

  it('the plaintext failing mid-stream fails the write and leaves no object', async () => {
    const store = createFileStore(mkdtempSync(join(root, 'fail-')));
    const failing = new Readable({ read() {} });
    failing.push(plain.subarray(0, 200_000));
    setTimeout(() => failing.destroy(new Error('pg_dump exited with code 1')), 20);
    await expect(sealInto(store, 'backups/d.dump', failing, [recipient])).rejects.toThrow(/pg_dump exited/);
    expect(
      readdirSync(store.location, { recursive: true }).filter((f) => String(f).endsWith('.dump')),
    ).toEqual([]);
  });
});

describe('collectEvery: short-lived buffers freed as a stream goes, not 32 MB later', () => {
  it('a young collection once the bytes add up frees the dead buffers outside the heap', async () => {
    // Dead 64 KiB buffers as a stream leaves them, well under V8's own 32 MB trigger.
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 200; i++) new Uint8Array(64 * 1024).fill(i);
    const piled = process.memoryUsage().arrayBuffers - before;
    expect(piled).toBeGreaterThan(8 * 1024 * 1024);
    const collect = collectEvery(1024 * 1024);
    collect(512 * 1024); // not yet
    collect(512 * 1024);
    // The engine frees a collected buffer's memory on a helper thread, moments later.
    let left = piled;
    for (let i = 0; i < 50 && left > piled / 4; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = process.memoryUsage().arrayBuffers - before;
    }
    expect(left).toBeLessThan(piled / 4);
    // The engine's gc stays private: no other context sees it.
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
