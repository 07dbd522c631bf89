import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { asDbwardenError } from '../src/core/errors.js';
import { probeStatus } from '../src/core/status.js';
import { statusReport } from '../src/core/status-report.js';
import { createTarget } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import { buildServices } from '../src/main.js';
import { runCliCaptured } from './helpers/cli.js';
import { adminQuery, canControlCluster, useTestCluster } from './helpers/cluster.js';

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

  it('reads around a table another session holds locked: reachable, the table named as locked, no timeout', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    const deps = targetFor(db.url, ['auth_user', 'billing_customer']);
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE billing_customer IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const s = await probeStatus(deps);
      expect(Date.now() - started).toBeLessThan(4500);
      expect(s.reachable).toBe(true);
      expect(s.error).toBeNull();
      expect(s.tables.find((t) => t.name === 'auth_user')).toMatchObject({ exact: true, rows: 40 });
      expect(s.tables.find((t) => t.name === 'billing_customer')).toMatchObject({
        exact: false,
        countProblem: 'locked',
      });
      const blind = s.warnings.find((w) => w.code === 'guard-blind');
      expect(blind?.level).toBe('warn');
      expect(blind?.message).toContain('another session holds it locked');
      expect(blind?.message).toContain('pg_locks');
      const text = statusReport(s).summary;
      expect(text).not.toMatch(/unreachable|bug in dbwarden/);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
      await deps.target.close();
    }
  });

  it('a query past the statement timeout: "not answering in time", never "a bug in dbwarden"', async () => {
    const target = createTarget(db.url, {
      environment: 'production',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 200,
    });
    try {
      const err = await target.readOnly((c) => c.query('SELECT pg_sleep(2)')).catch((e: unknown) => e);
      expect(asDbwardenError(err).toJSON()).toMatchObject({ code: 'timeout' });
      expect(asDbwardenError(err).hint).toContain('DBWARDEN_STATEMENT_TIMEOUT');
      expect(asDbwardenError(err).hint).not.toContain('bug in dbwarden');
      const report = statusReport({
        ...(await probeStatus({
          target: createTarget('postgres://x@127.0.0.1:1/app', {
            environment: 'production',
            connectTimeoutMs: 500,
            statementTimeoutMs: 500,
          }),
          watchTables: null,
        })),
        error: asDbwardenError(err).toJSON(),
      });
      expect(report.summary).toContain('is not answering in time');
      expect(report.fields.find((f) => f.label === 'Reachable')?.value).toMatch(/^connected, too slow/);
    } finally {
      await target.close();
    }
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

describe('status, digest and the guard agree on which backups are this database’s (issue 12)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const envFor = (url: string, dir: string) => ({
    DATABASE_URL: url,
    DBWARDEN_STORE: dir,
    DBWARDEN_ENV: 'staging',
    DBWARDEN_WATCH_TABLES: 'auth_user,billing_transaction',
    LOG_LEVEL: 'silent',
  });
  const freshStore = () => {
    const d = mkdtempSync(join(tmpdir(), 'dbwarden-status-truth-'));
    dirs.push(d);
    return d;
  };
  const reseed = async () => {
    await db.sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await seedDemo(db.url);
  };

  it('after the demo, a real database in the same store: no "last backup verified" borrowed from the demo database', async () => {
    await reseed();
    const demoUrl = new URL(db.url);
    demoUrl.pathname = '/demo';
    await adminQuery(new URL('/postgres', db.url).toString(), 'CREATE DATABASE demo');
    await seedDemo(demoUrl.toString());
    const dir = freshStore();
    const demo = envFor(demoUrl.toString(), dir);
    const app = envFor(db.url, dir);
    // `npm start`: the demo database is watched and backed up into the default store.
    const backup = await runCliCaptured(['backup', '--json'], demo);
    expect(backup.code).toBe(0);
    const demoBackup = JSON.parse(backup.out).id as string;
    expect((await runCliCaptured(['watch', '--once'], demo)).code).toBe(0);

    // Then DATABASE_URL points at the real database, same store.
    const json = await runCliCaptured(['status', '--json'], app);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.out);
    // `dbwarden status` counts the watched tables itself, even with a watch round in the store, and says so.
    expect(s.counts).toEqual({ source: 'live', countedAt: s.checkedAt, ageSeconds: 0 });
    expect(s.lastBackup).toBeNull();
    expect(s.warnings).toContainEqual(
      expect.objectContaining({ code: 'no-backup', message: expect.stringContaining('another database') }),
    );
    const text = await runCliCaptured(['status'], app);
    expect(text.out).not.toContain(demoBackup);
    expect(text.out).not.toContain('✅');
    expect(text.out).toMatch(/Last backup:\s+none of this database/);

    const digest = await runCliCaptured(['digest', '--json'], app);
    expect(digest.code).toBe(3);
    expect(JSON.parse(digest.out).backup).toMatchObject({ state: 'missing', latest: null });
    expect((await runCliCaptured(['digest'], app)).out).not.toContain(demoBackup);

    // The guard says the same, and status now shows its critical warning.
    const watch = await runCliCaptured(['watch', '--once', '--json'], app);
    expect(watch.code).toBe(3);
    expect(JSON.parse(watch.out).warnings.map((w: { code: string }) => w.code)).toContain(
      'database-replaced',
    );
    const after = JSON.parse((await runCliCaptured(['status', '--json'], app)).out);
    expect(after.warnings[0]).toMatchObject({ code: 'database-replaced', level: 'critical' });
    expect(after.lastBackup).toBeNull();
    const afterText = (await runCliCaptured(['status'], app)).out;
    expect(afterText.split('\n')[0]).toBe('🚨 staging · app');
    expect(afterText).toMatch(/Warnings\n {2}🚨 Database replaced \[database-replaced\] — open since/);
    expect(afterText + json.out + digest.out).not.toContain(db.password);
  });

  it('status is critical and names the guard’s open warning (database emptied); --json carries it', async () => {
    await reseed();
    const dir = freshStore();
    const app = envFor(db.url, dir);
    expect((await runCliCaptured(['backup'], app)).code).toBe(0);
    expect((await runCliCaptured(['watch', '--once'], app)).code).toBe(0);
    await db.sql(
      'TRUNCATE auth_user, billing_customer, billing_meter, billing_transaction, django_migrations',
    );
    expect((await runCliCaptured(['watch', '--once'], app)).code).toBe(3);

    const s = JSON.parse((await runCliCaptured(['status', '--json'], app)).out);
    expect(s.warnings[0]).toMatchObject({
      code: 'database-emptied',
      level: 'critical',
      message: expect.stringContaining('Database emptied'),
    });
    const text = (await runCliCaptured(['status'], app)).out;
    expect(text.split('\n')[0]).toBe('🚨 staging · app');
    expect(text).toMatch(/Warnings\n {2}🚨 Database emptied \[database-emptied\] — open since/);
    // The chat's /db-status gets the same Report: critical, and its summary names the warning.
    const services = await buildServices({ env: app });
    try {
      const report = await services.statusReport();
      expect(report.level).toBe('critical');
      expect(report.summary).toMatch(/^🚨 staging database app: Database emptied/);
    } finally {
      await services.close();
    }
    await reseed();
  });

  it('a failed last backup: status says why and what fixes it, as the guard and the digest do, not "run /backup-now"', async () => {
    await reseed();
    const dir = freshStore();
    const app = envFor(db.url, dir);
    const old = mkdtempSync(join(tmpdir(), 'dbwarden-old-pg-dump-'));
    dirs.push(old);
    writeFileSync(join(old, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 11.22"\n');
    chmodSync(join(old, 'pg_dump'), 0o755);
    const failing = { ...app, PG_DUMP: join(old, 'pg_dump') };
    const cause = /pg_dump 11\.22 \(.*\) cannot back up PostgreSQL \d+/;
    const fix = /^Install postgresql-client-\d+/;
    const ago = '(just now|\\d+ min ago)';

    const first = JSON.parse((await runCliCaptured(['backup', '--json'], failing)).out).error;
    expect(first.message).toMatch(cause);
    const s = JSON.parse((await runCliCaptured(['status', '--json'], app)).out);
    expect(s.lastBackup).toBeNull();
    expect(s.lastFailedBackup).toMatchObject({
      id: expect.any(String),
      message: first.message,
      hint: first.hint,
    });
    const [w, none] = s.warnings;
    expect(w).toEqual({
      code: 'backup-failed',
      level: 'critical',
      message: expect.stringMatching(
        new RegExp(`^The last backup \\(${s.lastFailedBackup.id}, ${ago}\\) failed: `),
      ),
      hint: first.hint,
    });
    expect(w.message).toMatch(cause);
    expect(w.hint).toMatch(fix);
    // No good backup at all, as the guard says too; running one again would not help until the cause is fixed.
    expect(none).toEqual({
      code: 'no-backup',
      level: 'warn',
      message:
        'No good backup yet: if the database were lost now, nothing could bring it back. Fix the failure above, then take a backup',
    });
    expect(JSON.stringify(s.warnings)).not.toContain('/backup-now');
    const text = (await runCliCaptured(['status'], app)).out;
    expect(text.split('\n')[0]).toBe('🚨 staging · app');
    expect(text).toMatch(/^Last good backup: +none of this database yet$/m);
    expect(text).toMatch(
      /🚨 The last backup \(.*\) failed: pg_dump 11\.22 .* → Install postgresql-client-\d+/,
    );
    // The guard's own warnings for it (watch: backup-failed, and backup-stale "No backup") are these, said once,
    // with since when the guard has them open.
    expect((await runCliCaptured(['watch', '--once'], app)).code).toBe(3);
    const watched = JSON.parse((await runCliCaptured(['status', '--json'], app)).out);
    expect(watched.warnings).toEqual([
      { ...w, message: expect.any(String), since: expect.any(String) },
      { ...none, message: expect.any(String) },
    ]);
    const digest = JSON.parse((await runCliCaptured(['digest', '--json'], app)).out);
    expect(digest.backup).toMatchObject({
      state: 'failed',
      failure: { message: first.message, hint: first.hint },
    });

    // A good backup since: nothing failed any more. Then a failure again: the good one is named.
    expect((await runCliCaptured(['backup'], app)).code).toBe(0);
    const fixed = JSON.parse((await runCliCaptured(['status', '--json'], app)).out);
    expect(fixed.lastFailedBackup).toBeNull();
    // The guard's warnings from its round before (failed, no backup) are over: said by no one until it clears them.
    expect(fixed.warnings).toEqual([]);
    expect((await runCliCaptured(['backup'], failing)).code).toBe(1);
    const again = JSON.parse((await runCliCaptured(['status', '--json'], app)).out);
    expect(again.lastBackup).not.toBeNull();
    expect(again.warnings.map((x: { code: string }) => x.code)).toEqual(['backup-failed']);
    expect(again.warnings[0].message).toMatch(
      new RegExp(
        `^The last backup \\(.*, ${ago}\\) failed \\(the newest good one was taken ${ago}\\): pg_dump 11`,
      ),
    );
    expect(again.warnings[0].hint).toMatch(fix);
    expect((await runCliCaptured(['status'], app)).out).toMatch(/^Last good backup: +\S+ · /m);
  });

  it.runIf(canControlCluster)(
    'unreachable: the last backup of the database last seen here, said so; never seen here: unknown',
    async () => {
      await reseed();
      const dir = freshStore();
      const app = envFor(db.url, dir);
      const b = JSON.parse((await runCliCaptured(['backup', '--json'], app)).out);
      expect((await runCliCaptured(['watch', '--once'], app)).code).toBe(0);
      // A store that only ever saw another database (the demo) at another address.
      const other = freshStore();
      const demoUrl = new URL(db.url);
      demoUrl.pathname = '/demo2';
      await adminQuery(new URL('/postgres', db.url).toString(), 'CREATE DATABASE demo2');
      await seedDemo(demoUrl.toString());
      expect((await runCliCaptured(['backup'], envFor(demoUrl.toString(), other))).code).toBe(0);
      expect((await runCliCaptured(['watch', '--once'], envFor(demoUrl.toString(), other))).code).toBe(0);
      db.stop();
      try {
        const down = await runCliCaptured(['status', '--json'], app);
        expect(down.code).toBe(2);
        const s = JSON.parse(down.out);
        expect(s.lastBackup).toMatchObject({ id: b.id, verified: true });
        const text = (await runCliCaptured(['status'], app)).out;
        expect(text).toMatch(new RegExp(`Last backup:\\s+${b.id}.*last seen here`));

        const never = JSON.parse((await runCliCaptured(['status', '--json'], envFor(db.url, other))).out);
        expect(never.lastBackup).toBeNull();
        expect((await runCliCaptured(['status'], envFor(db.url, other))).out).toMatch(
          /Last backup:\s+unknown/,
        );
      } finally {
        db.start();
      }
    },
  );
});
