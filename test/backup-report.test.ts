import { describe, expect, it } from 'vitest';
import { backupDoneReport, storeLabel } from '../src/backup/backup-report.js';
import { isGood } from '../src/store/manifest.js';
import { manifest } from './helpers/fixtures.js';

describe('backup done report', () => {
  it('names a file store by its directory name and an S3 store by its URL, never a host path', () => {
    expect(storeLabel('/srv/app/data/.dbwarden')).toBe('the file store .dbwarden');
    expect(storeLabel('s3://acme-backups/prod/db')).toBe('s3://acme-backups/prod/db');
    const r = backupDoneReport(manifest({ id: '20261124T030000000Z-aaaa' }), '/srv/app/data/.dbwarden');
    expect(r.footer).toBe('stored in the file store .dbwarden');
    expect(JSON.stringify(r)).not.toContain('/srv/app');
  });

  it('leaves the environment to the renderers, which all show it', () => {
    const r = backupDoneReport(manifest({ id: '20261124T030000000Z-aaaa' }), 's3://acme-backups/prod');
    expect(r.footer).toBe('stored in s3://acme-backups/prod');
  });

  it('an encrypted backup: the stored object’s size and SHA-256 (what sha256sum in the store gives), then the archive’s', () => {
    const m = manifest({
      id: '20261124T030000000Z-aaaa',
      sizeBytes: 1_000_000,
      sha256: 'a'.repeat(64),
      encrypted: 'age',
      recipients: ['age1cy458pgk0pawwuzc8z6kt62e2kzpqdac0hkmwvaeqxsy2fwh94ssguk4y3'],
      storedSizeBytes: 1_000_500,
      storedSha256: 'b'.repeat(64),
    });
    const fields = Object.fromEntries(backupDoneReport(m, '/srv/x').fields.map((f) => [f.label, f.value]));
    expect(fields['SHA-256']).toBe(`${'b'.repeat(12)}… stored, ${'a'.repeat(12)}… decrypted`);
    expect(fields.Size).toMatch(/^\S+ \S+ stored, \S+ \S+ decrypted$/);
    expect(fields.Encrypted).toBe('age, to age1cy458pgk…guk4y3');
  });
});

describe('manifests from before the timings', () => {
  it('still read as good backups and render', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createFileStore } = await import('../src/store/file-store.js');
    const { createCatalog } = await import('../src/store/catalog.js');
    const store = createFileStore(mkdtempSync(join(tmpdir(), 'dbwarden-old-manifest-')));
    const catalog = createCatalog(store);
    // Written by an older dbwarden: no `timings` (nor `leftOut`).
    const { timings: _t, leftOut: _l, ...old } = manifest({ id: '20261124T030000.000Z-aaaaaa' });
    await store.put(`backups/${old.id}.json`, JSON.stringify(old));
    const read = await catalog.read(old.id);
    expect(read?.timings).toBeUndefined();
    expect(read && isGood(read)).toBe(true);
    expect(backupDoneReport(read!, store.location).summary).toContain(old.id);
  });
});
