import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { type BlobStore, moveObject, readText } from '../../src/store/blob-store.js';

export interface StoreContractOptions {
  /** A fresh, empty store for one test. */
  makeStore(): BlobStore | Promise<BlobStore>;
  /** Bytes a failing or aborted put writes first: enough to be mid-upload (past one multipart part for S3). */
  bytesBeforeFailure: number;
  /** Size of the big streamed object. */
  bigBytes: number;
  /** Store-specific check after a failed put, e.g. no multipart upload left open on the server. */
  afterFailedPut?(store: BlobStore, key: string): Promise<void>;
}

const CHUNK = 64 * 1024;

/** Deterministic pseudo-random bytes, produced chunk by chunk so nothing holds the whole object. */
function* pseudoRandomChunks(total: number, seed = 1): Generator<Buffer> {
  let state = seed;
  for (let done = 0; done < total; ) {
    const n = Math.min(CHUNK, total - done);
    const buf = Buffer.allocUnsafe(Math.ceil(n / 4) * 4);
    for (let i = 0; i < buf.length; i += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      buf.writeUInt32LE(state, i);
    }
    done += n;
    yield buf.subarray(0, n);
  }
}

async function sha256Of(
  stream: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer>,
): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return h.digest('hex');
}

/** Define the BlobStore contract suite every store implementation must pass. */
export function storeContract(name: string, opts: StoreContractOptions): void {
  describe(`${name} keeps the BlobStore contract`, () => {
    test('moves an object: whole under the new key, gone from the old one', async () => {
      const store = await opts.makeStore();
      await store.put('backups/incoming/x.dump', 'dump bytes');
      const info = await moveObject(store, 'backups/incoming/x.dump', 'backups/x.dump');
      expect(info).toMatchObject({ key: 'backups/x.dump', size: 10 });
      expect(await readText(store, 'backups/x.dump')).toBe('dump bytes');
      expect(await store.stat('backups/incoming/x.dump')).toBeNull();
    });

    test('puts a string, a buffer and a stream, and gets the same bytes back', async () => {
      const store = await opts.makeStore();
      const s = await store.put('backups/one.json', '{"ok":true}');
      expect(s).toMatchObject({ key: 'backups/one.json', size: 11 });
      expect(s.modified).toBeInstanceOf(Date);
      const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
      expect((await store.put('backups/two.bin', bytes)).size).toBe(7);
      const parts = ['chunk one, ', 'chunk two, ', 'the end'];
      const info = await store.put('backups/three.txt', Readable.from(parts.map((p) => Buffer.from(p))));
      expect(info.size).toBe(parts.join('').length);

      expect(await readText(store, 'backups/one.json')).toBe('{"ok":true}');
      const back: Buffer[] = [];
      for await (const c of await store.get('backups/two.bin')) back.push(Buffer.from(c));
      expect(Buffer.concat(back).equals(bytes)).toBe(true);
      expect(await readText(store, 'backups/three.txt')).toBe(parts.join(''));
    });

    test('an overwrite replaces the whole object', async () => {
      const store = await opts.makeStore();
      await store.put('state/snapshot.json', 'a much longer first version');
      await store.put('state/snapshot.json', 'v2');
      expect(await readText(store, 'state/snapshot.json')).toBe('v2');
      expect((await store.stat('state/snapshot.json'))?.size).toBe(2);
    });

    test('stat tells size and time of an object, and null for a missing one', async () => {
      const store = await opts.makeStore();
      const before = Date.now();
      await store.put('backups/x.dump', Buffer.alloc(1234, 7));
      const info = await store.stat('backups/x.dump');
      expect(info).toMatchObject({ key: 'backups/x.dump', size: 1234 });
      // Stores keep whole seconds at worst; allow that and a little clock skew.
      expect(info!.modified.getTime()).toBeGreaterThan(before - 5_000);
      expect(await store.stat('backups/missing.dump')).toBeNull();
      await expect(store.get('backups/missing.dump')).rejects.toThrow();
    });

    test('lists by prefix, sorted by key, including nested keys', async () => {
      const store = await opts.makeStore();
      const keys = [
        'backups/20261124T030000Z-b.json',
        'backups/20261123T030000Z-a.dump',
        'other/x.txt',
        'backups/sub/c.txt',
        'backupsX/y.txt',
        'backups/20261123T030000Z-a.json',
      ];
      for (const key of keys) await store.put(key, key);
      expect((await store.list('backups/')).map((b) => b.key)).toEqual([
        'backups/20261123T030000Z-a.dump',
        'backups/20261123T030000Z-a.json',
        'backups/20261124T030000Z-b.json',
        'backups/sub/c.txt',
      ]);
      expect((await store.list('backups/20261123')).map((b) => b.key)).toEqual([
        'backups/20261123T030000Z-a.dump',
        'backups/20261123T030000Z-a.json',
      ]);
      expect((await store.list('')).map((b) => b.key)).toEqual([...keys].sort());
      expect(await store.list('nothing-here/')).toEqual([]);
      const listed = await store.list('other/');
      expect(listed).toEqual([
        { key: 'other/x.txt', size: 'other/x.txt'.length, modified: expect.any(Date) },
      ]);
    });

    test('deletes an object; deleting a missing one is fine', async () => {
      const store = await opts.makeStore();
      await store.put('backups/a.dump', 'a');
      await store.put('backups/b.dump', 'b');
      await store.delete('backups/a.dump');
      expect(await store.stat('backups/a.dump')).toBeNull();
      expect((await store.list('backups/')).map((b) => b.key)).toEqual(['backups/b.dump']);
      await expect(store.delete('backups/a.dump')).resolves.toBeUndefined();
    });

    test('rejects unsafe keys before touching anything', async () => {
      const store = await opts.makeStore();
      for (const key of ['../escape', '/absolute', 'a//b', 'a/../b', './a', 'with space', '', 'a/']) {
        await expect(store.put(key, 'x'), key).rejects.toThrow(/unsafe store key/);
        await expect(store.get(key), key).rejects.toThrow(/unsafe store key/);
        await expect(store.stat(key), key).rejects.toThrow(/unsafe store key/);
        await expect(store.delete(key), key).rejects.toThrow(/unsafe store key/);
      }
      expect(await store.list('')).toEqual([]);
    });

    test('a put whose stream fails mid-way leaves nothing under the key, and keeps an older object whole', async () => {
      const store = await opts.makeStore();
      const failing = () =>
        Readable.from(
          (function* () {
            yield* pseudoRandomChunks(opts.bytesBeforeFailure);
            throw new Error('pg_dump exited with code 1');
          })(),
        );
      await expect(store.put('backups/new.dump', failing())).rejects.toThrow('pg_dump exited with code 1');
      expect(await store.stat('backups/new.dump')).toBeNull();
      expect(await store.list('')).toEqual([]);
      await opts.afterFailedPut?.(store, 'backups/new.dump');

      await store.put('backups/old.dump', 'the previous good dump');
      await expect(store.put('backups/old.dump', failing())).rejects.toThrow('pg_dump exited with code 1');
      expect(await readText(store, 'backups/old.dump')).toBe('the previous good dump');
      expect((await store.list('')).map((b) => b.key)).toEqual(['backups/old.dump']);
      await opts.afterFailedPut?.(store, 'backups/old.dump');
    });

    test('a put aborted through its AbortSignal leaves nothing under the key', async () => {
      const store = await opts.makeStore();
      const controller = new AbortController();
      const chunks = pseudoRandomChunks(opts.bytesBeforeFailure * 4);
      let sent = 0;
      const source = Readable.from(
        (async function* () {
          for (const chunk of chunks) {
            sent += chunk.length;
            // Abort once the store has taken in enough to be mid-upload.
            if (sent > opts.bytesBeforeFailure) controller.abort(new Error('backup cancelled by the user'));
            yield chunk;
            await new Promise((r) => setImmediate(r));
          }
        })(),
      );
      await expect(
        store.put('backups/cancelled.dump', source, { signal: controller.signal }),
      ).rejects.toThrow();
      expect(await store.stat('backups/cancelled.dump')).toBeNull();
      expect(await store.list('')).toEqual([]);
      await opts.afterFailedPut?.(store, 'backups/cancelled.dump');
      // A signal already aborted refuses at once.
      await expect(store.put('backups/late.dump', 'x', { signal: controller.signal })).rejects.toThrow();
      expect(await store.stat('backups/late.dump')).toBeNull();
    });

    test('a big streamed object comes back with the same SHA-256', async () => {
      const store = await opts.makeStore();
      const expected = await sha256Of(pseudoRandomChunks(opts.bigBytes, 42));
      const info = await store.put('backups/big.dump', Readable.from(pseudoRandomChunks(opts.bigBytes, 42)));
      expect(info.size).toBe(opts.bigBytes);
      expect((await store.stat('backups/big.dump'))?.size).toBe(opts.bigBytes);
      expect(await sha256Of(await store.get('backups/big.dump'))).toBe(expected);
    });
  });
}
