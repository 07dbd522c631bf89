import { describe, expect, it } from 'vitest';
import { findTool } from '../src/backup/pg-tools.js';
import { verifyAndRecord } from '../src/backup/verify.js';
import { seedDemo } from '../src/demo/seed.js';
import { createS3Store } from '../src/store/s3-store.js';
import { backupServiceFor } from './helpers/backup.js';
import { useTestCluster } from './helpers/cluster.js';
import { useS3Server } from './helpers/s3-server.js';

const db = useTestCluster();
const s3 = useS3Server({ buckets: ['dbwarden-backups'] });

describe('backups into an S3 store', () => {
  it('streams the dump straight to its key, manifest last, and verifies and drills from the bucket', async () => {
    await seedDemo(db.url);
    const store = createS3Store({ url: `s3://${s3.bucket}/prod`, endpoint: s3.endpoint });
    const { service, target } = backupServiceFor(db.url, store);
    const m = await service.run({ requestedBy: 'schedule' });
    expect(m).toMatchObject({ status: 'complete', verified: true });
    expect(m.tables['public.billing_transaction']).toBe(20000);
    const writes = s3.calls.filter((c) => /Put|Upload|Copy/.test(c.op)).map((c) => `${c.op} ${c.key}`);
    // No staging copy: a whole-dump copy would double the upload.
    expect(writes.some((w) => w.includes('incoming'))).toBe(false);
    expect(writes.some((w) => w.includes('Copy'))).toBe(false);
    const dumpWrite = writes.findIndex((w) => w.endsWith(`prod/backups/${m.id}.dump`));
    const manifestWrite = writes.findIndex((w) => w.endsWith(`prod/backups/${m.id}.json`));
    expect(dumpWrite).toBeGreaterThanOrEqual(0);
    expect(manifestWrite).toBeGreaterThan(dumpWrite);
    expect((await service.list()).map((x) => x.id)).toEqual([m.id]);

    const pgRestore = await findTool('pg_restore', null);
    const v = await verifyAndRecord(
      { store, catalog: service.catalog, pgRestore, target, drillUrl: null },
      m,
      { drill: true },
    );
    await target.close();
    expect(v.problem).toBeNull();
    expect(v.manifest.drill).toMatchObject({ ok: true, tables: 5, rows: 20896 });
  });
});
