import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
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
