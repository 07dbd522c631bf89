import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { findTool } from '../src/backup/pg-tools.js';
import { restoreBackup } from '../src/backup/restore.js';
import { verifyAndRecord } from '../src/backup/verify.js';
import { seedDemo } from '../src/demo/seed.js';
import { createS3Store } from '../src/store/s3-store.js';
import { backupServiceFor } from './helpers/backup.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';
import { useS3Server } from './helpers/s3-server.js';

const db = useTestCluster();
const s3 = useS3Server({ buckets: ['dbwarden-backups'] });

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

describe('encrypted backups into an S3 store', () => {
  it('uploads only the encrypted object; verifies it without a key; drills and restores it with the identity, refuses without; age | pg_restore reads it; a flipped byte fails verify', async () => {
    await seedDemo(db.url);
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const store = createS3Store({ url: `s3://${s3.bucket}/prod`, endpoint: s3.endpoint });
    const { service, target, config } = backupServiceFor(db.url, store, {
      DBWARDEN_AGE_RECIPIENTS: recipient,
      DBWARDEN_COMPRESSION: '0',
    });
    const m = await service.run({ requestedBy: 'schedule' });
    expect(m).toMatchObject({
      status: 'complete',
      verified: true,
      encrypted: 'age',
      recipients: [recipient],
    });
    // One dump object, written once: the plaintext never went to the bucket.
    const dumpWrites = s3.calls.filter((c) => /Put|Upload|Copy/.test(c.op) && c.key.endsWith('.dump'));
    expect(new Set(dumpWrites.map((c) => c.key))).toEqual(new Set([`prod/backups/${m.id}.dump`]));
    const stored = await readAll(await store.get(m.dumpKey));
    expect(stored.length).toBe(m.storedSizeBytes);
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    for (const word of ['billing_transaction', 'auth_user', '@example.com'])
      expect(stored.includes(word)).toBe(false);

    const pgRestore = await findTool('pg_restore', null);
    const deps = { store, catalog: service.catalog, pgRestore, target, drillUrl: null };
    const noKey = await verifyAndRecord(deps, m, { drill: false });
    expect(noKey.problem).toBeNull();
    expect(noKey.manifest.verified).toBe(true);

    const wrong = await verifyAndRecord({ ...deps, identities: [await generateX25519Identity()] }, m, {
      drill: true,
    });
    expect(wrong.problem?.code).toBe('age-wrong-identity');
    expect(wrong.manifest.verified).toBe(true);

    const drilled = await verifyAndRecord({ ...deps, identities: [identity] }, m, { drill: true });
    expect(drilled.problem).toBeNull();
    expect(drilled.manifest.drill).toMatchObject({ ok: true, tables: 5, rows: 20896 });

    const newDb = async (name: string) => {
      await adminQuery(db.url, `CREATE DATABASE ${name}`);
      const to = new URL(db.url);
      to.pathname = `/${name}`;
      return to.toString();
    };
    /** Restore the backup into `toUrl`, with or without the identity. */
    const restoreTo = (toUrl: string, identities: string[] | null) =>
      restoreBackup({
        store,
        catalog: service.catalog,
        id: m.id,
        toUrl,
        clean: false,
        iKnowThisIsProduction: false,
        production: { url: db.url, target },
        pgRestore: config.backup.pgRestore,
        identities,
      });
    const r = await restoreTo(await newDb('restored_from_s3'), [identity]);
    expect(r.tables.length).toBe(5);
    for (const t of r.tables) expect(t.rows).toBe(t.atBackup);

    // Without the identity: refused before touching the database, naming the variable and the recipient.
    const untouched = await newDb('not_restored_from_s3');
    await expect(restoreTo(untouched, null)).rejects.toMatchObject({
      code: 'age-identity-missing',
      message: expect.stringContaining('DBWARDEN_AGE_IDENTITY'),
    });
    const none = await adminQuery(
      untouched,
      `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`,
    );
    expect(Number(none.rows[0].n)).toBe(0);
    await target.close();

    // The object as the bucket holds it opens with the age command-line tool, piped into plain pg_restore.
    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-age-s3-'));
    writeFileSync(join(dir, 'key.txt'), `${identity}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'object.age'), stored);
    const listed = execFileSync('sh', ['-c', `age -d -i key.txt object.age | "${pgRestore.path}" --list`], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(listed).toMatch(/TABLE DATA public auth_user /);

    // One flipped byte in the bucket: verify, with no key, says so and the backup is no longer good.
    const flipped = Buffer.from(stored);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
    await store.put(m.dumpKey, flipped);
    const damaged = await verifyAndRecord(deps, m, { drill: false });
    expect(damaged.problem?.code).toBe('checksum-mismatch');
    expect(damaged.manifest.verified).toBe(false);
  });
});
