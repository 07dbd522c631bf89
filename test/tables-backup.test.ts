import { afterAll, describe, expect, it } from 'vitest';
import { findTool } from '../src/backup/pg-tools.js';
import { verifyAndRecord } from '../src/backup/verify.js';
import { probeStatus } from '../src/core/status.js';
import { seedDemo } from '../src/demo/seed.js';
import type { GuardConfig } from '../src/guard/guard.js';
import { watchOnce } from '../src/guard/watch.js';
import { backupServiceFor, tempStore } from './helpers/backup.js';
import { useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

const EXCLUDE = 'audit_*';
const WATCH = ['auth_user', 'billing_transaction', 'events', 'audit_log', 'ext_settings'];

/**
 * The demo database plus the three shapes that made every good backup look "shrunk": a table left out by
 * DBWARDEN_EXCLUDE_TABLES, a table owned by an extension, and a partitioned table (two levels deep).
 */
async function seedShapes(): Promise<string> {
  await seedDemo(db.url);
  await db.sql(`
    CREATE TABLE audit_log (id int PRIMARY KEY, what text);
    INSERT INTO audit_log SELECT g, 'event ' || g FROM generate_series(1, 5000) g;
    CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
      PARTITION BY RANGE (at);
    CREATE TABLE events_2026_h1 PARTITION OF events_2026 FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
    CREATE TABLE events_2026_h2 PARTITION OF events_2026 FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
    INSERT INTO events SELECT g, date '2025-01-01' + (g % 700) FROM generate_series(1, 3000) g;
    CREATE TABLE ext_settings (k text PRIMARY KEY, v text);
    INSERT INTO ext_settings SELECT 'k' || g, 'v' FROM generate_series(1, 50) g;
    ANALYZE`);
  // Like PostGIS's spatial_ref_sys: a table the extension owns (pg_trgm from contrib when installed).
  const available = await db.sql(`SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'`);
  const ext = available.rowCount ? 'pg_trgm' : 'plpgsql';
  await db.sql(`CREATE EXTENSION IF NOT EXISTS ${ext}; ALTER EXTENSION ${ext} ADD TABLE ext_settings`);
  return ext;
}

function setup() {
  const { store } = tempStore();
  const { service, target } = backupServiceFor(db.url, store, { DBWARDEN_EXCLUDE_TABLES: EXCLUDE });
  closers.push(() => target.close());
  const guardConfig: GuardConfig = {
    environment: 'test',
    target: { name: target.name, display: target.display, host: target.host },
    backupMaxAgeMs: 26 * 3_600_000,
    rowsDropPct: 20,
    unreachableChecks: 2,
    drillsConfigured: false,
    excludeTables: [EXCLUDE],
  };
  const posted: string[] = [];
  const watch = () =>
    watchOnce({
      store,
      probe: () => probeStatus({ target, watchTables: WATCH }),
      notifier: { name: 'test', post: async (r) => void posted.push(r.title) },
      guardConfig,
      clock: () => new Date(),
      timezone: 'UTC',
    });
  return { store, service, target, watch, posted };
}

const codes = (r: { warnings: { code: string }[] }) => r.warnings.map((w) => w.code);

describe('one definition of the tables: status, snapshots, backups and the guard agree', () => {
  it('status shows a partitioned table as one table with its rows, and flags the extension’s table', async () => {
    const ext = await seedShapes();
    const { target } = setup();
    const s = await probeStatus({ target, watchTables: WATCH });
    const byName = Object.fromEntries(s.tables.map((t) => [t.name, t]));
    expect(byName.events).toMatchObject({ rows: 3000, exact: true, watched: true });
    expect(byName.events!.sizeBytes).toBeGreaterThan(0);
    expect(s.tables.some((t) => t.name.startsWith('events_'))).toBe(false);
    expect(byName.ext_settings).toMatchObject({ rows: 50, extension: ext });
    // Never picked as the app's data when watched tables are chosen automatically.
    const auto = await probeStatus({ target, watchTables: null });
    expect(auto.tables.find((t) => t.name === 'ext_settings')?.watched).toBe(false);
  });

  it('a good backup with an exclusion, an extension-owned and a partitioned table is not "shrunk"', async () => {
    const { service, store, target, watch, posted } = setup();
    expect(codes(await watch())).toEqual(['backup-stale']);
    const m = await service.run({ requestedBy: 'cli' });
    expect(m.tables['public.events']).toBe(3000);
    expect(m.tables['public.billing_transaction']).toBe(20000);
    expect(Object.keys(m.tables)).not.toContain('public.audit_log');
    expect(Object.keys(m.tables)).not.toContain('public.ext_settings');
    expect(Object.keys(m.tables).some((t) => t.startsWith('public.events_'))).toBe(false);
    expect(m.leftOut).toMatchObject({
      'public.audit_log': 'DBWARDEN_EXCLUDE_TABLES',
      'public.ext_settings': expect.stringMatching(/^owned by extension /),
    });

    const round = await watch();
    expect(codes(round)).toEqual([]);
    expect(posted.join('\n')).not.toMatch(/smaller than the database/);

    // The dump restores: partitions and all, the counts match what the manifest says.
    const drilled = await verifyAndRecord(
      {
        store,
        catalog: service.catalog,
        pgRestore: await findTool('pg_restore', null),
        target,
        drillUrl: null,
      },
      m,
      { drill: true },
    );
    expect(drilled.manifest.drill).toMatchObject({ ok: true });
  });

  it('excluding a partitioned table leaves out all its partitions; excluding one partition, just that one', async () => {
    const whole = backupServiceFor(db.url, tempStore().store, { DBWARDEN_EXCLUDE_TABLES: 'events' });
    closers.push(() => whole.target.close());
    const m1 = await whole.service.run({ requestedBy: 'cli' });
    expect(Object.keys(m1.tables)).not.toContain('public.events');
    expect(m1.leftOut?.['public.events']).toBe('DBWARDEN_EXCLUDE_TABLES');

    const part = backupServiceFor(db.url, tempStore().store, {
      DBWARDEN_EXCLUDE_TABLES: 'public.events_2026',
    });
    closers.push(() => part.target.close());
    const m2 = await part.service.run({ requestedBy: 'cli' });
    const in2025 = Number((await db.sql(`SELECT count(*) FROM events_2025`)).rows[0].count);
    expect(m2.tables['public.events']).toBe(in2025);
    expect(m2.leftOut?.['public.events']).toBe(
      'DBWARDEN_EXCLUDE_TABLES: partitions public.events_2026_h1, public.events_2026_h2',
    );
  });

  it('a truly short dump still raises backup-shrunk', async () => {
    const { service, watch } = setup();
    await watch();
    // The database had 20,000 rows when the snapshot was taken; the dump right after holds far fewer.
    await db.sql('DELETE FROM billing_transaction WHERE id > 500');
    await service.run({ requestedBy: 'cli' });
    const round = await watch();
    expect(codes(round)).toContain('backup-shrunk');
    const shrunk = round.warnings.find((w) => w.code === 'backup-shrunk')!;
    expect(shrunk.details).toEqual(['holds 500 rows of public.billing_transaction; the database had 20,000']);
  });
});
