import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderText } from '../src/chat/console/render-text.js';
import { runCli } from '../src/cli/run.js';
import { seedDemo } from '../src/demo/seed.js';
import { buildDigest, sparkline } from '../src/guard/digest.js';
import { digestReport } from '../src/guard/digest-report.js';
import { saveSnapshot } from '../src/guard/snapshot-history.js';
import { buildServices, type Services } from '../src/main.js';
import { createFileStore } from '../src/store/file-store.js';
import { useTestCluster } from './helpers/cluster.js';
import { manifest, snapshot, writeManifests } from './helpers/fixtures.js';

const H = 3_600_000;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'dbwarden-digest-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const target = { name: 'app', environment: 'production', display: 'postgres://app@db.internal:5432/app' };

/** The digest of what a store holds, with no database reading (it does not answer) and no next backup known. */
const storedDigest = (
  store: ReturnType<typeof createFileStore>,
  now: Date,
  identity: ReturnType<typeof snapshot>['identity'] | null = snapshot().identity,
) => buildDigest({ store, now, current: null, identity, target, nextBackupAt: null });

describe('digest from a stored history', () => {
  it('draws a sparkline, gaps included', () => {
    expect(sparkline([1, 2, 3, 4, 5, 6, 7, 8])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([5, null, 5])).toBe('▄ ▄');
    expect(sparkline([null, null])).toBe('  ');
  });

  it('confirms last night’s backup and shows growth over 24 h and 7 d across 14 days of snapshots', async () => {
    const store = createFileStore(tempDir());
    const now = new Date('2026-11-24T08:00:00.000Z'); // 09:00 in Berlin
    // 14 days of hourly snapshots: the database grows 1 MB and 10 users a day.
    for (let h = 14 * 24; h >= 1; h -= 4) {
      const at = new Date(now.getTime() - h * H);
      const day = 14 - Math.floor(h / 24);
      await saveSnapshot(
        store,
        snapshot({
          at: at.toISOString(),
          sizeBytes: 100 * 2 ** 20 + day * 2 ** 20,
          tables: {
            'public.auth_user': { rows: 100 + day * 10, exact: true, sizeBytes: 8192 },
            'public.orders': { rows: 1000, exact: true, sizeBytes: 81920 },
          },
        }),
      );
    }
    const nightly = manifest({
      id: '20261124T020000.000Z-a00001',
      startedAt: '2026-11-24T02:00:00.000Z',
      durationMs: 4100,
      sizeBytes: 12 * 2 ** 20,
    });
    const older = manifest({
      id: '20261123T020000.000Z-a00000',
      startedAt: '2026-11-23T02:00:00.000Z',
      sizeBytes: 11 * 2 ** 20,
    });
    await writeManifests(store, [older, nightly]);
    const current = snapshot({
      at: now.toISOString(),
      sizeBytes: 114 * 2 ** 20,
      tables: {
        'public.auth_user': { rows: 240, exact: true, sizeBytes: 8192 },
        'public.orders': { rows: 1000, exact: true, sizeBytes: 81920 },
      },
    });
    const d = await buildDigest({
      store,
      now,
      current,
      identity: current.identity,
      target,
      nextBackupAt: new Date('2026-11-25T02:00:00.000Z'),
    });
    expect(d.backup.state).toBe('ok');
    expect(d.backup.latest?.id).toBe(nightly.id);
    expect(d.database.size24h).toBe(113 * 2 ** 20);
    expect(d.database.size7d).toBe(107 * 2 ** 20);
    expect(d.database.tables).toContainEqual({
      table: 'public.auth_user',
      rows: 240,
      rows24h: 230,
      rows7d: 170,
    });
    expect([...d.sparkline]).toHaveLength(14);
    expect(d.sparkline.startsWith('▁')).toBe(true);
    expect(d.sparkline.endsWith('█')).toBe(true);
    expect(d.catalog).toMatchObject({ kept: 2, totalBytes: 23 * 2 ** 20 });

    const text = renderText(digestReport(d, 'Europe/Berlin'));
    expect(digestReport(d, 'Europe/Berlin').level).toBe('ok');
    expect(text).toContain(`✅ ${nightly.id} · 12.0 MB in 4.10 s · verified`);
    expect(text).toContain('114 MB (+1.00 MB in 24 h, +7.00 MB in 7 d)');
    expect(text).toContain('public.auth_user: 240 · +10 · +70');
    expect(text).toMatch(/Next backup:\s+2026-11-25 03:00 (CET|GMT\+1)/);
    expect(text).toContain('none');
  });

  it('is loud when last night’s backup failed (with the cause) or is missing', async () => {
    const store = createFileStore(tempDir());
    const now = new Date('2026-11-24T08:00:00.000Z');
    const old = manifest({ id: '20261120T020000.000Z-b00000', startedAt: '2026-11-20T02:00:00.000Z' });
    await writeManifests(store, [old]);
    const missing = await storedDigest(store, now);
    expect(missing.backup.state).toBe('missing');
    const mr = digestReport(missing, 'UTC');
    expect(mr.level).toBe('critical');
    expect(renderText(mr)).toContain(
      `MISSING: no backup of this database finished in the last day (newest good: ${old.id}, 4 d ago)`,
    );
    expect(renderText(mr)).toContain('unknown (database not answering)');

    const failed = manifest({
      id: '20261124T020000.000Z-f00000',
      startedAt: '2026-11-24T02:00:00.000Z',
      status: 'failed',
      verified: false,
      error: {
        code: 'backup-failed',
        message: 'pg_dump: server version 16.2; pg_dump version 15.6',
        hint: 'install postgresql-client-16',
      },
    });
    await writeManifests(store, [failed]);
    const f = digestReport(await storedDigest(store, now), 'UTC');
    expect(f.level).toBe('critical');
    expect(renderText(f)).toContain('FAILED 20261124T020000.000Z-f00000: pg_dump: server version 16.2');
    expect(renderText(f)).toContain('→ install postgresql-client-16');
  });

  it('the night’s backup state follows the last attempt, as the guard and status judge it', async () => {
    const now = new Date('2026-11-24T08:00:00.000Z');
    const good = (day: string) =>
      manifest({ id: `202611${day}T020000.000Z-b${day}000`, startedAt: `2026-11-${day}T02:00:00.000Z` });
    const fail = (day: string, hour = '03') =>
      manifest({
        id: `202611${day}T${hour}0000.000Z-f${day}000`,
        startedAt: `2026-11-${day}T${hour}:00:00.000Z`,
        status: 'failed',
        verified: false,
        error: {
          code: 'pg-dump-failed',
          message: 'pg_dump exited with code 1: disk full',
          hint: 'free space',
        },
      });
    const judge = async (ms: ReturnType<typeof manifest>[]) => {
      const store = createFileStore(tempDir());
      await writeManifests(store, ms);
      const d = await storedDigest(store, now);
      return {
        state: d.backup.state,
        failure: d.backup.failure?.id ?? null,
        text: renderText(digestReport(d, 'UTC')),
      };
    };
    // A good backup tonight after an older failure: confirmed.
    expect(await judge([fail('23'), good('24')])).toMatchObject({ state: 'ok', failure: null });
    // A failure after tonight's good one: failed, with it.
    expect(await judge([good('24'), fail('24', '05')])).toMatchObject({
      state: 'failed',
      failure: '20261124T050000.000Z-f24000',
    });
    // Nothing tonight, and the last attempt (days ago) failed: missing, and that failure's cause and fix are said.
    const stale = await judge([good('18'), fail('20')]);
    expect(stale).toMatchObject({ state: 'missing', failure: '20261120T030000.000Z-f20000' });
    expect(stale.text).toContain(
      'MISSING: no backup of this database finished in the last day (newest good: 20261118T020000.000Z-b18000, 6 d ago); the last attempt (20261120T030000.000Z-f20000, 4 d ago) failed: pg_dump exited with code 1: disk full',
    );
    expect(stale.text).toContain('→ free space');
    // Nothing tonight, the last attempt was good: missing, no failure to explain.
    expect(await judge([fail('18'), good('20')])).toMatchObject({ state: 'missing', failure: null });
  });

  it('never confirms another database’s backup (the demo’s, a replaced one) as last night’s', async () => {
    const store = createFileStore(tempDir());
    const now = new Date('2026-11-24T08:00:00.000Z');
    const demo = manifest({
      id: '20261124T020000.000Z-d00001',
      startedAt: '2026-11-24T02:00:00.000Z',
      identity: { systemIdentifier: '7400000000000000001', databaseOid: 16390, databaseName: 'demo' },
    });
    await writeManifests(store, [demo]);
    const current = snapshot({ at: now.toISOString() });
    const d = await buildDigest({
      store,
      now,
      current,
      identity: current.identity,
      target,
      nextBackupAt: null,
    });
    expect(d.backup).toMatchObject({ state: 'missing', latest: null });
    const text = renderText(digestReport(d, 'UTC'));
    expect(text).toContain(
      'MISSING: no backup of this database finished in the last day and there is none of it at all',
    );
    expect(text).not.toContain(demo.id);
    // Unknown identity (never seen, not answering): nothing is confirmed either.
    const unknown = await storedDigest(store, now, null);
    expect(unknown.backup.latest).toBeNull();
  });
});

/** The identity and row counts a real backup of the services' database would record now. */
async function backedUp(services: Services) {
  const s = await services.status();
  return {
    identity: s.identity,
    tables: Object.fromEntries(s.tables.map((t) => [`${t.schema}.${t.name}`, t.rows])),
  };
}

describe('digest over a simulated day on a real database', () => {
  const db = useTestCluster();
  beforeAll(async () => {
    await seedDemo(db.url);
  });

  it('counts a day’s new users and confirms the night’s backup; open warnings listed; `dbwarden digest --json`', async () => {
    const dir = tempDir();
    const env = {
      DATABASE_URL: db.url,
      DBWARDEN_STORE: dir,
      DBWARDEN_ENV: 'staging',
      DBWARDEN_WATCH_TABLES: 'auth_user,billing_transaction',
      DBWARDEN_TIMEZONE: 'America/New_York',
      DBWARDEN_BACKUP_CRON: '0 3 * * *',
      LOG_LEVEL: 'silent',
    };
    let now = new Date('2026-11-23T14:00:00.000Z');
    const out = new PassThrough();
    let posted = '';
    out.on('data', (c) => {
      posted += c;
    });
    const services = await buildServices({ env, clock: () => now, consoleOutput: out });
    try {
      await services.watch(); // yesterday, 09:00 New York
      await db.sql(
        `INSERT INTO auth_user (username, email, password) SELECT 'new' || i, 'n' || i || '@x.test', 'x' FROM generate_series(1, 12) i`,
      );
      now = new Date('2026-11-24T08:00:00.000Z'); // the night: 03:00 New York
      const store = createFileStore(dir);
      await writeManifests(store, [
        manifest({
          id: '20261124T080000.000Z-c00001',
          startedAt: now.toISOString(),
          ...(await backedUp(services)),
        }),
      ]);
      now = new Date('2026-11-24T13:30:00.000Z');
      await db.sql('DELETE FROM billing_transaction WHERE id % 2 = 0');
      await services.watch(); // rows-dropped: open
      now = new Date('2026-11-24T14:00:00.000Z');
      const d = await services.digest();
      expect(d.backup).toMatchObject({ state: 'ok', latest: { id: '20261124T080000.000Z-c00001' } });
      expect(d.database.tables).toContainEqual({
        table: 'public.auth_user',
        rows: 52,
        rows24h: 40,
        rows7d: null,
      });
      expect(d.openWarnings.map((w) => w.code)).toEqual(['rows-dropped']);
      expect(d.nextBackupAt).toBe('2026-11-25T08:00:00.000Z');
      const text = renderText(await services.digestReport());
      expect(text).toContain('public.auth_user: 52 · +12 · n/a');
      expect(text).toContain('Rows vanished [rows-dropped]');
      expect(text).toMatch(/Next backup:\s+2026-11-25 03:00 (EST|GMT-5)/);
      expect(posted).toContain('Rows vanished'); // the watch posted it to the console channel
    } finally {
      await services.close();
    }

    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let json = '';
    stdout.on('data', (c) => {
      json += c;
    });
    const code = await runCli(['digest', '--json'], { stdout, stderr, env });
    expect(code).toBe(3); // in real time that backup is days old: last night's backup is missing
    expect(JSON.parse(json)).toMatchObject({
      target: { environment: 'staging' },
      openWarnings: [{ code: 'rows-dropped' }],
    });
  });
});
