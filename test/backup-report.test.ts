import { describe, expect, it } from 'vitest';
import { backupDoneReport, storeLabel } from '../src/backup/backup-report.js';
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
});
