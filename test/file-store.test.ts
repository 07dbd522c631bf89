import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../src/store/file-store.js';
import { storeContract } from './helpers/store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'dbwarden-file-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every file under dir, temporary ones included. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

storeContract('the file store', {
  makeStore: () => createFileStore(mkdtempSync(join(root, 'store-'))),
  bytesBeforeFailure: 1024 * 1024,
  bigBytes: 24 * 1024 * 1024,
  async afterFailedPut(store) {
    // No temporary file is left behind either.
    expect(allFiles(store.location).filter((name) => name.includes('.partial-'))).toEqual([]);
  },
});

describe('putFile: a writer fills the file itself (pg_dump -f)', () => {
  it('publishes what the writer wrote, with the SHA-256 read back from the file, private to dbwarden', async () => {
    const store = createFileStore(mkdtempSync(join(root, 'putfile-')));
    // More than the 1 MB read-back buffer, so the hash spans several reads.
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const info = await store.putFile!('backups/x.dump', async (path) => {
      expect(path).toContain('.partial-');
      writeFileSync(path, body);
    });
    expect(info.size).toBe(body.length);
    expect(info.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(readFileSync(join(store.location, 'backups/x.dump')).equals(body)).toBe(true);
    expect(statSync(join(store.location, 'backups/x.dump')).mode & 0o777).toBe(0o600);
    expect(allFiles(store.location)).toEqual(['x.dump']);
  });

  it('a writer that fails leaves nothing behind, under the key or a temporary name', async () => {
    const store = createFileStore(mkdtempSync(join(root, 'putfile-')));
    const err = await store.putFile!('backups/y.dump', async (path) => {
      writeFileSync(path, 'half a dump');
      throw new Error('pg_dump exited with code 1');
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('pg_dump exited with code 1');
    expect(await store.stat('backups/y.dump')).toBeNull();
    expect(allFiles(store.location)).toEqual([]);
  });
});
