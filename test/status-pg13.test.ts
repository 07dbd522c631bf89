import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { probeStatus } from '../src/core/status.js';
import { createTarget } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import { backupServiceFor, tempStore } from './helpers/backup.js';
import { findPgServer, usePgServerCluster } from './helpers/pg-server.js';

const found = await findPgServer(13);
if ('missing' in found) console.log(`skipping the PostgreSQL 13 tests: ${found.missing}`);
const pg13 = usePgServerCluster(found);

const probe = async (url: string, watchTables: string[] | null) => {
  const target = createTarget(url, {
    environment: 'test',
    connectTimeoutMs: 5000,
    statementTimeoutMs: 10_000,
  });
  try {
    return await probeStatus({ target, watchTables });
  } finally {
    await target.close();
  }
};

describe.skipIf('missing' in found)('a real PostgreSQL 13 server', () => {
  it('status: a never-analysed table shows its rows, not ~0 (reltuples is 0 before 14, not -1)', async () => {
    const db = pg13.current!;
    await seedDemo(db.url);
    await db.sql(`
      CREATE TABLE imported (id int, note text) WITH (autovacuum_enabled = false);
      INSERT INTO imported SELECT g, 'row ' || g FROM generate_series(1, 5000) g;
      CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
      CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      INSERT INTO events SELECT g, date '2026-01-01' + (g % 300) FROM generate_series(1, 700) g;
      CREATE TABLE ext_settings (k text);
      ALTER EXTENSION plpgsql ADD TABLE ext_settings`);
    const catalog = await db.sql(`SELECT reltuples, relpages FROM pg_class WHERE relname = 'imported'`);
    expect(catalog.rows[0]).toMatchObject({ reltuples: 0, relpages: 0 });
    // PostgreSQL 13's statistics collector reports inserts about every half second.
    let s = await probe(db.url, ['auth_user']);
    for (let i = 0; i < 40 && (s.tables.find((t) => t.name === 'imported')?.rows ?? 0) === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      s = await probe(db.url, ['auth_user']);
    }
    expect(s.reachable).toBe(true);
    expect(s.serverVersionNum).toBeGreaterThanOrEqual(130000);
    expect(s.serverVersionNum).toBeLessThan(140000);
    expect(s.tables.find((t) => t.name === 'imported')).toMatchObject({ rows: 5000, exact: false });
    expect(s.tables.find((t) => t.name === 'auth_user')).toMatchObject({ rows: 40, exact: true });
    expect(s.tables.find((t) => t.name === 'ext_settings')).toMatchObject({ extension: 'plpgsql' });
    const events = await probe(db.url, ['events']);
    expect(events.tables[0]).toMatchObject({ name: 'events', rows: 700, exact: true });
    expect(events.tables.some((t) => t.name === 'events_2026')).toBe(false);
  });

  it('the PostgreSQL 13 role recipe in docs/deploy.md reads every table exactly: no guard-blind', async () => {
    const db = pg13.current!;
    const doc = readFileSync('docs/deploy.md', 'utf8');
    const recipe = /### PostgreSQL 13[\s\S]*?```sql\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(recipe).toBeTruthy();
    const password = ['pg13', Date.now().toString(36), 'k4'].join('-');
    await db.sql('CREATE ROLE app');
    await db.sql(recipe!.replaceAll('CHANGE-ME', password).replaceAll('your_app_db', 'app'));
    // A table the app creates after the grants is readable too (ALTER DEFAULT PRIVILEGES).
    await db.sql('SET ROLE app; CREATE TABLE later_table (id int); INSERT INTO later_table VALUES (1), (2)');
    const url = db.url.replace(/\/\/postgres:[^@]+@/, `//dbwarden:${password}@`);
    const s = await probe(url, ['auth_user', 'billing_transaction', 'later_table']);
    expect(s.tables.filter((t) => t.watched).map((t) => [t.name, t.rows, t.exact])).toEqual([
      ['auth_user', 40, true],
      ['billing_transaction', 20000, true],
      ['later_table', 2, true],
    ]);
    expect(s.warnings.map((w) => w.code)).not.toContain('guard-blind');
  });

  it('a role without SELECT on a watched table: guard-blind with the GRANT for 13 (no pg_read_all_data)', async () => {
    const db = pg13.current!;
    const password = ['narrow', Date.now().toString(36), 'z2'].join('-');
    await db.sql(`CREATE ROLE narrow LOGIN PASSWORD '${password}'; GRANT SELECT ON auth_user TO narrow`);
    const url = db.url.replace(/\/\/postgres:[^@]+@/, `//narrow:${password}@`);
    const s = await probe(url, ['auth_user', 'billing_transaction']);
    const w = s.warnings.find((x) => x.code === 'guard-blind');
    expect(w?.level).toBe('critical');
    expect(w?.message).toContain('GRANT SELECT ON public.billing_transaction TO narrow;');
    expect(w?.message).toContain('ALTER DEFAULT PRIVILEGES');
    expect(w?.message).not.toContain('GRANT pg_read_all_data');
  });

  it('a backup of PostgreSQL 13 holds every table, partitions included, with exact counts', async () => {
    const db = pg13.current!;
    const { service, target } = backupServiceFor(db.url, tempStore().store);
    try {
      const m = await service.run({ requestedBy: 'cli' });
      expect(m.serverVersion).toMatch(/^13\./);
      expect(m.tables).toMatchObject({
        'public.events': 700,
        'public.imported': 5000,
        'public.auth_user': 40,
      });
      expect(m.leftOut).toEqual({ 'public.ext_settings': 'owned by extension plpgsql' });
    } finally {
      await target.close();
    }
  });
});
