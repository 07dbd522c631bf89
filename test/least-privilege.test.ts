import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { snapshotFromStatus } from '../src/core/snapshot.js';
import { probeStatus } from '../src/core/status.js';
import { createTarget } from '../src/core/target.js';
import { findServerBin } from '../src/demo/cluster.js';
import { seedDemo } from '../src/demo/seed.js';
import { guard } from '../src/guard/guard.js';
import { runCliCaptured } from './helpers/cli.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();

/** The role SQL exactly as docs/deploy.md gives it, with the placeholder password filled in. */
function roleSql(password: string): string {
  const doc = readFileSync('docs/deploy.md', 'utf8');
  const block = /<!-- role-sql:start -->\s*```sql\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/deploy.md lost its role SQL block');
  return block.replaceAll('CHANGE-ME', password).replaceAll('your_app_db', 'app');
}

describe('the least-privilege role from the deploy guide', () => {
  it('can read status (identity included) and pg_dump the database, but cannot write to it', async () => {
    await seedDemo(db.url);
    await db.sql(roleSql('warden-pw-7Hq2'));
    const url = db.url.replace(/\/\/postgres:[^@]+@/, '//dbwarden:warden-pw-7Hq2@');
    const target = createTarget(url, {
      environment: 'production',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    const s = await probeStatus({ target, watchTables: null });
    await target.close();
    expect(s.reachable).toBe(true);
    expect(s.identity?.systemIdentifier).toMatch(/^\d+$/);
    expect(s.tables.find((t) => t.name === 'billing_transaction')).toMatchObject({
      rows: 20000,
      exact: true,
    });
    expect(s.migrations?.framework).toBe('django');

    const bin = join(findServerBin(), 'pg_dump');
    const dump = spawnSync(bin, ['-Fc', '--no-sync', '-f', '/dev/null'], {
      env: {
        PGHOST: '127.0.0.1',
        PGPORT: String(db.port),
        PGUSER: 'dbwarden',
        PGPASSWORD: 'warden-pw-7Hq2',
        PGDATABASE: 'app',
      },
      encoding: 'utf8',
    });
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);

    await expect(adminQuery(url, 'DELETE FROM auth_user')).rejects.toThrow(/permission denied/);
    await expect(adminQuery(url, 'CREATE TABLE x (id int)')).rejects.toThrow(/permission denied/);
  });

  it('verify --drill without CREATEDB names CREATEDB or DBWARDEN_DRILL_URL and leaves a good backup good', async () => {
    // The role from the guide (created by the test above when it ran first).
    const exists = await db.sql(`SELECT 1 FROM pg_roles WHERE rolname = 'dbwarden'`);
    if (exists.rowCount === 0) {
      await seedDemo(db.url);
      await db.sql(roleSql('warden-pw-7Hq2'));
    }
    const url = db.url.replace(/\/\/postgres:[^@]+@/, '//dbwarden:warden-pw-7Hq2@');
    const env = {
      DATABASE_URL: url,
      DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-drill-')),
      LOG_LEVEL: 'silent',
    };
    const backup = await runCliCaptured(['backup', '--json'], env);
    expect(backup.code).toBe(0);
    const { id } = JSON.parse(backup.out);
    const r = await runCliCaptured(['verify', id, '--drill'], env);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`✓ ${id}: checksum and archive ok`);
    expect(r.err).toContain('may not create a scratch database');
    expect(r.err).toMatch(/DBWARDEN_DRILL_URL|CREATEDB/);
    expect(r.err).not.toContain('may not restore');
    expect(r.err).not.toContain('bug in dbwarden');
    const [m] = JSON.parse((await runCliCaptured(['backups', '--json'], env)).out);
    expect(m).toMatchObject({ id, verified: true, drill: null });
  });

  it('a watched table the role may not read: guard-blind with the GRANT, posted once; a flush no longer passes silently', async () => {
    const password = ['peek', Date.now().toString(36), 'q7'].join('-');
    await db.sql(`CREATE ROLE peeker LOGIN PASSWORD '${password}'; GRANT pg_monitor TO peeker;
      GRANT SELECT ON auth_user, billing_customer, billing_meter, django_migrations TO peeker`);
    const env = {
      DATABASE_URL: db.url.replace(/\/\/postgres:[^@]+@/, `//peeker:${password}@`),
      DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-blind-')),
      DBWARDEN_WATCH_TABLES: 'billing_transaction',
      DBWARDEN_ENV: 'test',
      LOG_LEVEL: 'silent',
    };

    const status = await runCliCaptured(['status'], env);
    expect(status.code).toBe(0);
    expect(status.out).toContain('billing_transaction: 20,000 rows (estimate)');
    expect(status.out).toMatch(
      /cannot count public\.billing_transaction of app exactly \(role peeker may not read it\)/,
    );
    expect(status.out).toContain('GRANT SELECT ON public.billing_transaction TO peeker;');
    expect(status.out).toContain('GRANT pg_read_all_data TO peeker;');
    const json = JSON.parse((await runCliCaptured(['status', '--json'], env)).out);
    expect(json.warnings).toContainEqual(expect.objectContaining({ code: 'guard-blind', level: 'critical' }));
    expect(json.tables[0]).toMatchObject({
      name: 'billing_transaction',
      exact: false,
      countProblem: 'permission-denied',
    });

    const first = await runCliCaptured(['watch', '--once', '--json'], env);
    expect(JSON.parse(first.out).posted).toContainEqual({ code: 'guard-blind', kind: 'new' });
    expect(first.code).toBe(3);
    expect(first.err).toContain('GRANT SELECT ON public.billing_transaction TO peeker;');

    // Like `manage.py flush`, then fresh statistics: the estimate follows the loss, the guard cannot see it.
    await db.sql('TRUNCATE auth_user, billing_customer, billing_meter, billing_transaction CASCADE; ANALYZE');
    const second = await runCliCaptured(['watch', '--once', '--json'], env);
    const r = JSON.parse(second.out);
    expect(r.posted).not.toContainEqual(expect.objectContaining({ code: 'guard-blind' }));
    expect(r.warnings.map((w: { code: string }) => w.code)).toContain('guard-blind');
    expect(second.code).toBe(3);

    await db.sql('GRANT SELECT ON billing_transaction TO peeker');
    const fixed = JSON.parse((await runCliCaptured(['watch', '--once', '--json'], env)).out);
    expect(fixed.posted).toContainEqual({ code: 'guard-blind', kind: 'resolved' });
  });

  it('a count that merely timed out is guard-blind too, and says it is slow, not forbidden', async () => {
    await db.sql('CREATE TABLE big_log AS SELECT g AS id FROM generate_series(1, 400000) g; ANALYZE big_log');
    const target = createTarget(db.url, {
      environment: 'test',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    const s = await probeStatus({ target, watchTables: ['big_log'], countTimeoutMs: 1 });
    await target.close();
    expect(s.tables[0]).toMatchObject({ name: 'big_log', exact: false, countProblem: 'timeout' });
    const w = s.warnings.find((x) => x.code === 'guard-blind');
    expect(w?.level).toBe('warn');
    expect(w?.message).toContain('counting them took too long');
    expect(w?.message).toContain('Nothing to grant');
  });

  it('a watched table too big to count still raises rows-dropped when its estimate collapses, labelled estimated', async () => {
    await db.sql(
      'DROP TABLE IF EXISTS big_events; CREATE TABLE big_events AS SELECT g AS id FROM generate_series(1, 300000) g; ANALYZE big_events',
    );
    const target = createTarget(db.url, {
      environment: 'test',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    // A 1 ms count timeout: the table is watched but only ever estimated, as a huge production table would be.
    const probe = () => probeStatus({ target, watchTables: ['big_events'], countTimeoutMs: 1 });
    const before = snapshotFromStatus(await probe())!;
    await db.sql('TRUNCATE big_events; ANALYZE big_events');
    const after = snapshotFromStatus(await probe())!;
    await target.close();
    expect(before.watched).toEqual([]);
    expect(before.blind?.map((b) => b.table)).toEqual(['public.big_events']);
    const config = {
      environment: 'test',
      target: { name: 'app', display: target.display, host: '127.0.0.1' },
      backupMaxAgeMs: 86_400_000,
      rowsDropPct: 20,
      unreachableChecks: 2,
      drillsConfigured: false,
    };
    const warnings = guard({ previous: before, current: after, manifests: [], config, now: new Date() });
    const dropped = warnings.find((x) => x.code === 'rows-dropped');
    expect(dropped?.level).toBe('critical');
    expect(dropped?.details.join('\n')).toMatch(/public\.big_events: ~300,000 → ~?0 \(−100 %, estimated/);
  });
});
