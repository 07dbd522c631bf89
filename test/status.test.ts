import { describe, expect, it } from 'vitest';
import { probeStatus } from '../src/core/status.js';
import { createTarget } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import { canControlCluster, useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();
const targetFor = (url: string, watch: string[] | null = null) => ({
  target: createTarget(url, { environment: 'production', connectTimeoutMs: 2000, statementTimeoutMs: 5000 }),
  watchTables: watch,
});

describe('status of a real database', () => {
  it('describes a seeded Django-like database: size, tables, exact watched counts, migrations', async () => {
    await seedDemo(db.url);
    const deps = targetFor(db.url);
    const s = await probeStatus(deps);
    await deps.target.close();
    expect(s.reachable).toBe(true);
    expect(s.serverVersion).toMatch(/^\d+\.\d+/);
    expect(s.sizeBytes).toBeGreaterThan(1_000_000);
    expect(s.tableCount).toBe(5);
    const watched = s.tables.filter((t) => t.watched);
    expect(watched[0]).toMatchObject({ name: 'auth_user', rows: 40, exact: true });
    expect(watched.find((t) => t.name === 'billing_transaction')).toMatchObject({ rows: 20000, exact: true });
    expect(watched.some((t) => t.name === 'django_migrations')).toBe(false);
    expect(s.migrations).toMatchObject({
      framework: 'django',
      applied: 6,
      latest: 'billing.0003_transaction_note',
    });
    expect(s.identity?.systemIdentifier).toMatch(/^\d+$/);
    expect(s.identity?.databaseName).toBe('app');
    expect(s.warnings.map((w) => w.code)).toContain('no-backup');
  });

  it('counts configured tables exactly and reports a configured table that is missing', async () => {
    const deps = targetFor(db.url, ['billing_customer', 'public.billing_meter', 'orders']);
    const s = await probeStatus(deps);
    await deps.target.close();
    expect(s.tables.filter((t) => t.watched).map((t) => [t.name, t.rows, t.exact])).toEqual([
      ['billing_customer', 250, true],
      ['billing_meter', 600, true],
    ]);
    expect(s.warnings).toContainEqual(expect.objectContaining({ code: 'table-missing', level: 'critical' }));
  });

  it('detects Rails, Prisma and Knex migration tables', async () => {
    await db.sql(`CREATE SCHEMA railsapp; CREATE TABLE railsapp.schema_migrations (version varchar PRIMARY KEY);
      INSERT INTO railsapp.schema_migrations VALUES ('20240101000000'), ('20250301120000')`);
    const url = new URL(db.url);
    url.searchParams.set('options', '-c search_path=railsapp');
    const deps = targetFor(url.toString());
    const s = await probeStatus(deps);
    await deps.target.close();
    expect(s.migrations).toMatchObject({ framework: 'rails', applied: 2, latest: '20250301120000' });
  });

  it.runIf(canControlCluster)(
    'keeps its identity across a restart and changes it when the cluster is recreated',
    async () => {
      const read = async () => {
        const deps = targetFor(db.url);
        const s = await probeStatus(deps);
        await deps.target.close();
        return s.identity;
      };
      const before = await read();
      db.stop();
      db.start();
      expect(await read()).toEqual(before);
      await db.recreate();
      const after = await read();
      expect(after?.databaseName).toBe(before?.databaseName);
      expect(after?.systemIdentifier).not.toBe(before?.systemIdentifier);
    },
  );
});
