import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findTool } from '../src/backup/pg-tools.js';
import { verifyAndRecord } from '../src/backup/verify.js';
import { BackupFailed } from '../src/core/errors.js';
import { seedDemo } from '../src/demo/seed.js';
import { createMetrics } from '../src/serve/metrics.js';
import { backupServiceFor, tempStore } from './helpers/backup.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';
import { canMountTmpfs } from './helpers/small-disk.js';

const db = useTestCluster();
const closers: (() => Promise<void>)[] = [];
// After each test: a whole file's idle pools would use up the test server's connections.
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** A backup service whose target is closed after the test. */
function serviceFor(...args: Parameters<typeof backupServiceFor>) {
  const s = backupServiceFor(...args);
  closers.push(() => s.target.close());
  return s;
}

/** Hold an exclusive lock on a table so pg_dump (and the row counts) wait: a backup that stays running. */
async function holdTableLock(table: string) {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
  };
}

const until = async (what: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 600; i++) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition never met');
};

/** A script standing in for a tool: prints a version, or wraps the real pg_dump with extra arguments. */
function scriptTool(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-tool-'));
  const path = join(dir, 'pg_dump');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const dumpFiles = (dir: string) =>
  readdirSync(join(dir, 'backups'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.dump'));

describe('backups of a real database with the real pg_dump', () => {
  it('takes a complete, verified backup with exact row counts in the manifest next to the dump', async () => {
    await seedDemo(db.url);
    const { store, dir } = tempStore();
    const metrics = createMetrics({ defaults: false });
    const { service } = serviceFor(db.url, store, {}, { metrics });
    const phases: string[] = [];
    const m = await service.run({ requestedBy: 'cli', onProgress: (p) => phases.push(p.phase) });
    const exposed = (await metrics.exposition()).text;
    expect(exposed).toMatch(/dbwarden_backups_total\{result="success"\} 1/);
    expect(exposed).toContain(`dbwarden_backup_last_size_bytes ${m.sizeBytes}`);
    expect(m).toMatchObject({
      status: 'complete',
      verified: true,
      requestedBy: 'cli',
      format: 'custom',
      target: { name: 'app', environment: 'test' },
      tables: {
        'public.auth_user': 40,
        'public.billing_customer': 250,
        'public.billing_meter': 600,
        'public.billing_transaction': 20000,
        'public.django_migrations': 6,
      },
    });
    expect(m.id).toMatch(/^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}$/);
    // Where its time went, every phase in whole milliseconds; pg_dump's run is the bulk of it.
    const t = m.timings!;
    expect(Object.keys(t).sort()).toEqual(
      ['checksumMs', 'countsMs', 'dumpMs', 'encryptMs', 'listMs', 'prepareMs', 'publishMs'].sort(),
    );
    expect(t.encryptMs).toBe(0); // not encrypted
    for (const v of Object.values(t)) expect(Number.isInteger(v) && v >= 0).toBe(true);
    expect(t.dumpMs).toBeGreaterThan(0);
    expect(t.prepareMs + t.dumpMs + t.checksumMs + t.publishMs).toBeLessThanOrEqual(m.durationMs + 1000);
    expect(m.pgDumpVersion).toMatch(/^\d+\.\d+/);
    expect(m.identity?.databaseName).toBe('app');
    expect(phases[0]).toBe('starting');
    expect(phases.at(-1)).toBe('done');
    const manifest = JSON.parse(readFileSync(join(dir, 'backups', `${m.id}.json`), 'utf8'));
    expect(manifest.sha256).toBe(m.sha256);
    const dump = readFileSync(join(dir, 'backups', `${m.id}.dump`));
    expect(dump.length).toBe(m.sizeBytes);
    expect(dump.subarray(0, 5).toString()).toBe('PGDMP');
    expect(await service.latestGood()).toEqual(m);
  });

  it('ids sort by time and manifests list newest first', async () => {
    const { store } = tempStore();
    let now = Date.parse('2026-11-20T03:00:00Z');
    const { service, target, config } = serviceFor(db.url, store);
    const { createBackupService } = await import('../src/backup/backup-service.js');
    const timed = createBackupService({
      target,
      store,
      config,
      logger: serviceFor(db.url, store).log.logger,
      clock: () => new Date(now),
    });
    const a = await timed.run({ requestedBy: 'schedule' });
    now += 86_400_000;
    const b = await timed.run({ requestedBy: 'schedule' });
    expect(b.id > a.id).toBe(true);
    // Within one second, the milliseconds keep the order.
    const { newBackupId } = await import('../src/store/catalog.js');
    const early = newBackupId(new Date('2026-11-20T03:00:00.100Z'));
    const late = newBackupId(new Date('2026-11-20T03:00:00.900Z'));
    expect(early < late).toBe(true);
    expect(early).toMatch(/^20261120T030000\.100Z-[0-9a-f]{6}$/);
    expect((await service.list()).map((m) => m.id)).toEqual([b.id, a.id]);
  });

  it('a flipped byte in the stored dump is detected and the backup stops counting as good', async () => {
    const { store, dir } = tempStore();
    const { service } = serviceFor(db.url, store);
    const m = await service.run({ requestedBy: 'cli' });
    const path = join(dir, 'backups', `${m.id}.dump`);
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(path, bytes);
    const pgRestore = await findTool('pg_restore', null);
    const r = await verifyAndRecord({ store, catalog: service.catalog, pgRestore }, m, { drill: false });
    expect(r.problem?.code).toBe('checksum-mismatch');
    expect(r.problem?.message).toContain(m.sha256.slice(0, 12));
    expect(r.manifest.verified).toBe(false);
    expect(await service.latestGood()).toBeNull();
  });

  it('a store that cannot be read right now leaves a good backup good (retention must not take it)', async () => {
    const { store } = tempStore();
    const { service } = serviceFor(db.url, store);
    const m = await service.run({ requestedBy: 'cli' });
    // The outside world failing: the bucket or disk times out while the dump is re-read.
    const flaky = {
      ...store,
      get: async () => {
        throw new Error('read ETIMEDOUT');
      },
    };
    const pgRestore = await findTool('pg_restore', null);
    const r = await verifyAndRecord({ store: flaky, catalog: service.catalog, pgRestore }, m, {
      drill: false,
    });
    expect(r.problem?.message).toContain('ETIMEDOUT');
    expect(r.manifest.verified).toBe(true);
    expect((await service.latestGood())?.id).toBe(m.id);
  });

  it('a pg_dump killed mid-way leaves no backup, and the next backup succeeds and cleans crash leftovers', async () => {
    const { store, dir } = tempStore();
    let pid = 0;
    const { service } = serviceFor(db.url, store, {}, { onDumpSpawn: (p) => (pid = p) });
    const release = await holdTableLock('billing_transaction');
    const running = service.run({ requestedBy: 'cli' });
    running.catch(() => {});
    await until(() => pid > 0);
    process.kill(pid, 'SIGKILL');
    const err = await running.catch((e) => e);
    await release();
    expect(err).toBeInstanceOf(BackupFailed);
    expect(err.code).toBe('pg-dump-failed');
    expect(err.message).toMatch(/pg_dump was killed \(SIGKILL\)/);
    const listed = await service.list();
    expect(listed.map((m) => m.status)).toEqual(['failed']);
    expect(listed[0]!.error?.code).toBe('pg-dump-failed');
    expect(await service.latestGood()).toBeNull();
    expect(dumpFiles(dir)).toEqual([]);

    // What a dbwarden killed at the worst moment leaves: a temporary dump and a dump without its manifest.
    mkdirSync(join(dir, 'backups', 'incoming'), { recursive: true });
    writeFileSync(join(dir, 'backups', 'incoming', '20261101T000000Z-aaaaaa.dump'), 'half a dump');
    writeFileSync(join(dir, 'backups', '20261101T000000Z-bbbbbb.dump'), 'unpublished');
    const next = await service.run({ requestedBy: 'cli' });
    expect(next.verified).toBe(true);
    expect(dumpFiles(dir)).toEqual([`${next.id}.dump`]);
  });

  it('cleaning leftovers (alongside a dump) never touches the cleaning backup’s own objects', async () => {
    const { store, dir } = tempStore();
    const { createCatalog } = await import('../src/store/catalog.js');
    const own = '20261101T000000Z-cccccc';
    mkdirSync(join(dir, 'backups', 'incoming'), { recursive: true });
    for (const id of [own, '20261101T000000Z-aaaaaa'])
      writeFileSync(join(dir, 'backups', 'incoming', `${id}.dump`), 'being written');
    // A store without rename stages the dump under its final key, so it is also not an orphan while it is written.
    for (const id of [own, '20261101T000000Z-bbbbbb'])
      writeFileSync(join(dir, 'backups', `${id}.dump`), 'no manifest yet');
    // Its temporary file too, even dated before its start (a network file system's clock may lag ours).
    const ownTemp = `${own}.dump.partial-0a0b0c0d`;
    writeFileSync(join(dir, 'backups', 'incoming', ownTemp), 'pg_dump writing');
    writeFileSync(
      join(dir, 'backups', 'incoming', '20261101T000000Z-dddddd.dump.partial-01020304'),
      'crashed',
    );
    const removed = await createCatalog(store).cleanLeftovers(new Date(Date.now() + 60_000), own);
    expect(removed.sort()).toEqual([
      'backups/20261101T000000Z-bbbbbb.dump',
      'backups/incoming/20261101T000000Z-aaaaaa.dump',
      'backups/incoming/20261101T000000Z-dddddd.dump.partial-01020304',
    ]);
    expect(readdirSync(join(dir, 'backups', 'incoming')).sort()).toEqual([`${own}.dump`, ownTemp]);
    expect(readdirSync(join(dir, 'backups')).filter((f) => f.endsWith('.dump'))).toEqual([`${own}.dump`]);
  });

  it('stops a backup at the timeout or when cancelled: pg_dump killed; a timeout is a failed manifest, a cancel leaves nothing', async () => {
    const { store, dir } = tempStore();
    let pid = 0;
    const { service, config } = serviceFor(db.url, store, {}, { onDumpSpawn: (p) => (pid = p) });
    // Below DBWARDEN_BACKUP_TIMEOUT's one-minute floor, which a test cannot wait for; the service reads it per run.
    config.backup.timeoutMs = 1000;
    const release = await holdTableLock('auth_user');
    const err = await service.run({ requestedBy: 'schedule' }).catch((e) => e);
    expect(err.code).toBe('timeout');
    expect(err.hint).toContain('DBWARDEN_BACKUP_TIMEOUT');
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(pid)).toBe(false);
    const controller = new AbortController();
    pid = 0;
    const cancelled = service.run({ requestedBy: 'cli', signal: controller.signal });
    cancelled.catch(() => {});
    await until(() => pid > 0);
    controller.abort();
    const err2 = await cancelled.catch((e) => e);
    await release();
    expect(err2.message).toBe('The backup was cancelled');
    expect(dumpFiles(dir)).toEqual([]);
    expect((await service.list()).map((m) => m.error?.code)).toEqual(['timeout']);
  });

  it('refuses a second backup while one runs, in this process and from another replica, naming who started it', async () => {
    const { store } = tempStore();
    let pid = 0;
    const first = serviceFor(db.url, store, {}, { onDumpSpawn: (p) => (pid = p) }).service;
    const release = await holdTableLock('billing_meter');
    const running = first.run({ requestedBy: 'slack:U111' });
    await until(() => pid > 0);
    expect(first.running()?.requestedBy).toBe('slack:U111');
    const again = await first.run({ requestedBy: 'discord:222' }).catch((e) => e);
    expect(again).toBeInstanceOf(BackupFailed);
    expect(again.code).toBe('backup-running');
    expect(again.message).toMatch(/already running \(started by slack:U111 at \d{4}-/);
    const replica = serviceFor(db.url, tempStore().store).service;
    const other = await replica.run({ requestedBy: 'schedule' }).catch((e) => e);
    expect(other.code).toBe('backup-running');
    expect(other.message).toMatch(/in another dbwarden \(slack:U111 since/);
    await release();
    expect((await running).status).toBe('complete');
    expect(first.running()).toBeNull();
  });

  it('an unreachable database is a failed backup, recorded with the reason', async () => {
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const url = db.url.replace(/:\d+\//, `:${port}/`);
    const { service } = serviceFor(url, tempStore().store);
    const err = await service.run({ requestedBy: 'schedule' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackupFailed);
    expect(err.code).toBe('unreachable-refused');
    expect((await service.list())[0]).toMatchObject({
      status: 'failed',
      requestedBy: 'schedule',
      error: { code: 'unreachable-refused', message: `Connection refused by 127.0.0.1:${port}` },
    });
  });

  it('an old pg_dump against a newer server is refused with both versions and what to install', async () => {
    const old = scriptTool('echo "pg_dump (PostgreSQL) 9.6.24"');
    const { store } = tempStore();
    const { service } = serviceFor(db.url, store, { PG_DUMP: old });
    const err = await service.run({ requestedBy: 'cli' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackupFailed);
    expect(err.code).toBe('tool-missing');
    const server = (await adminQuery(db.url, 'SHOW server_version')).rows[0].server_version.split(' ')[0];
    const major = server.split('.')[0];
    expect(err.message).toContain(`pg_dump 9.6.24 (${old}) cannot back up PostgreSQL ${server}`);
    expect(err.hint).toContain(`postgresql-client-${major}`);
    expect(err.hint).toContain('PG_DUMP');
    expect((await service.list())[0]).toMatchObject({ status: 'failed', error: { code: 'tool-missing' } });
  });

  it('a missing pg_dump is named with how to install one', async () => {
    const { service } = serviceFor(db.url, tempStore().store, { PG_DUMP: '/nonexistent/pg_dump' });
    const err = await service.run({ requestedBy: 'cli' }).catch((e) => e);
    expect(err.code).toBe('tool-missing');
    expect(err.message).toBe('pg_dump not found at /nonexistent/pg_dump');
    expect(err.hint).toMatch(/apt-get install postgresql-client/);
  });

  it('a dump that silently lacks a table is a failure, never a success', async () => {
    const real = (await findTool('pg_dump', null)).path;
    const skipping = scriptTool(`exec ${real} "$@" --exclude-table=public.billing_meter`);
    const { store, dir } = tempStore();
    const metrics = createMetrics({ defaults: false });
    const { service } = serviceFor(db.url, store, { PG_DUMP: skipping }, { metrics });
    const err = await service.run({ requestedBy: 'cli' }).catch((e) => e);
    expect(err.code).toBe('dump-incomplete');
    expect((await metrics.exposition()).text).toMatch(/dbwarden_backups_total\{result="failure"\} 1/);
    expect(err.message).toBe('The dump holds data for 4 of 5 tables; missing: public.billing_meter');
    expect(await service.latestGood()).toBeNull();
    expect(dumpFiles(dir)).toEqual([]);
  });

  it('a role that may not read a table: the real cause and a hint, never the password', async () => {
    const password = ['pw', Date.now().toString(36), 'x9'].join('-');
    await adminQuery(db.url, `CREATE ROLE narrow LOGIN PASSWORD '${password}'`);
    await adminQuery(
      db.url,
      'GRANT SELECT ON auth_user, billing_customer, billing_transaction, django_migrations TO narrow',
    );
    const url = db.url.replace(/\/\/[^@]+@/, `//narrow:${password}@`);
    const { service, log } = serviceFor(url, tempStore().store);
    const err = await service.run({ requestedBy: 'cli' }).catch((e) => e);
    expect(err.code).toBe('count-failed');
    expect(err.message).toBe(
      'Counting the rows of every table failed: permission denied for table billing_meter',
    );
    expect(err.hint).toMatch(/grant it SELECT/);
    for (const text of [err.message, err.hint, log.text(), JSON.stringify(await service.list())])
      expect(text).not.toContain(password);
  });

  it('leaves out the data of excluded tables and does not expect it', async () => {
    const { service } = serviceFor(db.url, tempStore().store, {
      DBWARDEN_EXCLUDE_TABLES: 'billing_tr*',
      DBWARDEN_COMPRESSION: '0',
    });
    const m = await service.run({ requestedBy: 'cli' });
    expect(Object.keys(m.tables)).not.toContain('public.billing_transaction');
    expect(m.tables['public.billing_meter']).toBe(600);
  });

  it('never puts the password in pg_dump’s command line, the manifest, the logs or an error', async () => {
    let cmdline = '';
    const { store, dir } = tempStore();
    const { service, log } = serviceFor(
      db.url,
      store,
      {},
      {
        onDumpSpawn: (pid) => {
          // pg_dump starts through setpriv, which execs it in place: during that exec the process's command line
          // reads empty for a moment. Both setpriv's and pg_dump's carry the dump's arguments.
          const until = Date.now() + 2000;
          do cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          while (!cmdline && Date.now() < until);
        },
      },
    );
    const m = await service.run({ requestedBy: 'cli' });
    expect(cmdline).toContain('--format=custom');
    expect(db.password.length).toBeGreaterThan(8);
    expect(cmdline).not.toContain(db.password);
    expect(cmdline).not.toContain('postgres://');
    expect(readFileSync(join(dir, 'backups', `${m.id}.json`), 'utf8')).not.toContain(db.password);
    // A failing dump (bad PG_RESTORE) still must not show it.
    const failing = serviceFor(db.url, tempStore().store, { PG_RESTORE: '/nonexistent/pg_restore' });
    const err = await failing.service.run({ requestedBy: 'cli' }).catch((e) => e);
    expect(err.code).toBe('tool-missing');
    for (const text of [log.text(), failing.log.text(), JSON.stringify(err), err.message])
      expect(text).not.toContain(db.password);
  });

  it('records a restore drill into a temporary database on the target server, then drops it', async () => {
    const { store } = tempStore();
    const { service, target } = serviceFor(db.url, store);
    const m = await service.run({ requestedBy: 'cli' });
    const pgRestore = await findTool('pg_restore', null);
    const r = await verifyAndRecord(
      { store, catalog: service.catalog, pgRestore, target, drillUrl: null },
      m,
      { drill: true },
    );
    expect(r.problem).toBeNull();
    expect(r.manifest.drill).toMatchObject({ ok: true, tables: 5, rows: 20896 });
    expect((await service.catalog.read(m.id))?.drill?.ok).toBe(true);
    const left = await adminQuery(
      db.url,
      `SELECT datname FROM pg_database WHERE datname LIKE 'dbwarden_drill_%'`,
    );
    expect(left.rowCount).toBe(0);
  });

  it('drills into DBWARDEN_DRILL_URL and notices rows that did not come back', async () => {
    await adminQuery(db.url, 'CREATE DATABASE drill');
    const drillUrl = db.url.replace(/\/app$/, '/drill');
    const { store } = tempStore();
    const { service, target } = serviceFor(db.url, store);
    const m = await service.run({ requestedBy: 'cli' });
    const pgRestore = await findTool('pg_restore', null);
    const deps = { store, catalog: service.catalog, pgRestore, target, drillUrl };
    expect((await verifyAndRecord(deps, m, { drill: true })).manifest.drill?.ok).toBe(true);
    const lying = { ...m, tables: { ...m.tables, 'public.auth_user': 41 } };
    const r = await verifyAndRecord(deps, lying, { drill: true });
    expect(r.problem?.code).toBe('drill-failed');
    expect(r.manifest.drill?.problem).toBe('public.auth_user: 40 rows restored, 41 at dump time');

    // A drill URL that is the guarded database under another address is refused, and nothing is wiped.
    const sameDb = db.url.replace('127.0.0.1', 'localhost');
    const refused = await verifyAndRecord({ ...deps, drillUrl: sameDb }, m, { drill: true });
    // The drill cannot run: a setup problem named with its fix, not a verdict on the backup.
    expect(refused.problem?.code).toBe('drill-is-target');
    expect(refused.problem?.message).toMatch(/DBWARDEN_DRILL_URL points at the database dbwarden guards/);
    expect(refused.manifest.verified).toBe(true);
    expect((await adminQuery(db.url, 'SELECT count(*)::int AS n FROM auth_user')).rows[0].n).toBe(40);
  });
});

describe('a store that cannot be written', () => {
  let mounted = '';
  afterAll(() => {
    if (mounted) execFileSync('umount', [mounted]);
  });
  const canMount = canMountTmpfs();

  it.runIf(canMount)('disk full: a clear error, and the older backups stay intact', async () => {
    mounted = mkdtempSync(join(tmpdir(), 'dbwarden-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mounted]);
    const { createFileStore } = await import('../src/store/file-store.js');
    const store = createFileStore(mounted);
    const { service } = serviceFor(db.url, store);
    const old = await service.run({ requestedBy: 'cli' });
    // Fill the disk but for a few kilobytes.
    const free = Number(
      execFileSync('df', ['--output=avail', '-B1', mounted], { encoding: 'utf8' }).split('\n')[1],
    );
    writeFileSync(join(mounted, 'filler'), Buffer.alloc(Math.max(0, free - 8192)));
    // Rows that compress badly, so the dump itself (pg_dump writes the store's file) outgrows the space left.
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(
      'CREATE TABLE bulk AS SELECT md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 5000)',
    );
    const err = await service.run({ requestedBy: 'cli' }).catch((e) => e);
    await client.query('DROP TABLE bulk');
    await client.end();
    expect(err).toBeInstanceOf(BackupFailed);
    expect(err.code).toBe('fs-full');
    expect(err.message).toMatch(
      new RegExp(`^Cannot write to the backup store ${mounted}: no space left.* \\(ENOSPC\\)\\.$`),
    );
    expect(err.hint).toMatch(/^Free space on that volume/);
    const good = await service.latestGood();
    expect(good?.id).toBe(old.id);
    const pgRestore = await findTool('pg_restore', null);
    expect(
      (await verifyAndRecord({ store, catalog: service.catalog, pgRestore }, good!, { drill: false }))
        .problem,
    ).toBeNull();
  });

  it('a store path that is not a directory: a clear error', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dbwarden-notdir-')), 'file');
    writeFileSync(file, 'x');
    const { createFileStore } = await import('../src/store/file-store.js');
    const { service } = serviceFor(db.url, createFileStore(file));
    const err = await service.run({ requestedBy: 'cli' }).catch((e) => e);
    expect(err.code).toBe('fs-failed');
    expect(err.message).toMatch(
      /^Cannot write to the backup store .*file: not a directory on .*file\/backups\/incoming \(ENOTDIR\)\.$/,
    );
  });
});
