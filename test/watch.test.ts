import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleNotifier } from '../src/chat/console/console-notifier.js';
import type { Notifier } from '../src/core/notifier.js';
import type { Report } from '../src/core/report.js';
import { probeStatus } from '../src/core/status.js';
import { createTarget, type Target } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import type { GuardConfig } from '../src/guard/guard.js';
import { listSnapshots } from '../src/guard/snapshot-history.js';
import { acceptCurrent, watchOnce } from '../src/guard/watch.js';
import { loadWatchState } from '../src/guard/watch-state.js';
import type { BlobStore } from '../src/store/blob-store.js';
import { newBackupId } from '../src/store/catalog.js';
import { createFileStore } from '../src/store/file-store.js';
import { backupServiceFor } from './helpers/backup.js';
import { runCliCaptured } from './helpers/cli.js';
import { canControlCluster, useTestCluster } from './helpers/cluster.js';
import { manifest, writeManifests } from './helpers/fixtures.js';
import { eventually } from './helpers/net.js';
import { spawnCli } from './helpers/spawn-cli.js';

const db = useTestCluster();
const WATCH = ['auth_user', 'billing_customer', 'billing_meter', 'billing_transaction'];
const dirs: string[] = [];
const targets: Target[] = [];
afterAll(async () => {
  for (const t of targets) await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The team channel: every report posted, as text a person would read (through the real console notifier). */
function channel(): Notifier & { reports: Report[]; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c) => {
    text += c.toString();
  });
  const con = createConsoleNotifier(out);
  const reports: Report[] = [];
  return {
    name: 'test-channel',
    reports,
    text: () => text,
    async post(r) {
      reports.push(r);
      await con.post(r);
    },
  };
}

async function reseed(): Promise<void> {
  await db.sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await seedDemo(db.url);
}

/** The CLI on the test database (staging, the WATCH tables) with a fresh store of its own. */
function cliOnStore(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `dbwarden-watch-${name}-`));
  dirs.push(dir);
  const env = {
    DATABASE_URL: db.url,
    DBWARDEN_STORE: dir,
    DBWARDEN_ENV: 'staging',
    DBWARDEN_WATCH_TABLES: WATCH.join(','),
    LOG_LEVEL: 'silent',
  };
  return { dir, cli: (args: string[]) => runCliCaptured(args, env) };
}

/** A watch over the test database with a fresh store, as `dbwarden serve` builds it. */
function setup(opts: { environment?: string; clock?: () => Date } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-watch-'));
  dirs.push(dir);
  const store = createFileStore(dir);
  const target = createTarget(db.url, {
    environment: opts.environment ?? 'test',
    connectTimeoutMs: 2000,
    statementTimeoutMs: 5000,
  });
  targets.push(target);
  const clock = opts.clock ?? (() => new Date());
  const guardConfig: GuardConfig = {
    environment: opts.environment ?? 'test',
    target: { name: target.name, display: target.display, host: target.host },
    backupMaxAgeMs: 26 * 3_600_000,
    rowsDropPct: 20,
    unreachableChecks: 2,
    drillsConfigured: false,
  };
  const ch = channel();
  // A recreated test cluster has a new password: follow db.url as a redeployed app would.
  let url = db.url;
  let current = target;
  const deps = {
    store,
    probe: () => {
      if (db.url !== url) {
        url = db.url;
        current = createTarget(url, {
          environment: opts.environment ?? 'test',
          connectTimeoutMs: 2000,
          statementTimeoutMs: 5000,
        });
        targets.push(current);
      }
      return probeStatus({ target: current, watchTables: WATCH, clock });
    },
    notifier: ch,
    guardConfig,
    clock,
    timezone: 'Europe/Berlin',
  };
  return { store, target, ch, deps, watch: () => watchOnce(deps), dir };
}

/** What a real backup of the test database would record now: its identity and row counts. */
async function asBackedUp() {
  const target = createTarget(db.url, {
    environment: 'test',
    connectTimeoutMs: 2000,
    statementTimeoutMs: 5000,
  });
  try {
    const s = await probeStatus({ target, watchTables: WATCH });
    return {
      identity: s.identity,
      tables: Object.fromEntries(s.tables.map((t) => [`${t.schema}.${t.name}`, t.rows])),
    };
  } finally {
    await target.close();
  }
}

/** A good backup taken a minute ago, of the database as it is now. */
async function goodBackup(store: BlobStore, at = new Date(Date.now() - 60_000)) {
  const m = manifest({ id: newBackupId(at), startedAt: at.toISOString(), ...(await asBackedUp()) });
  await writeManifests(store, [m]);
  return m;
}

const codesOf = (r: { warnings: { code: string }[] }) => r.warnings.map((w) => w.code);

beforeAll(async () => {
  await seedDemo(db.url);
});

describe('watch against a real database', () => {
  it('stays quiet when all is well, and remembers a snapshot outside the database', async () => {
    const { store, ch, watch } = setup();
    await goodBackup(store);
    const r = await watch();
    expect(r.reachable).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(ch.reports).toEqual([]);
    expect(await listSnapshots(store)).toHaveLength(1);
  });

  it('DELETE 30 % → rows-dropped posted once with the way back; restored rows → resolved', async () => {
    await reseed();
    const { store, ch, watch, target } = setup();
    const backup = await goodBackup(store);
    await watch();
    await db.sql('CREATE TABLE saved AS SELECT * FROM billing_transaction WHERE id % 10 < 3');
    await db.sql('DELETE FROM billing_transaction WHERE id % 10 < 3');
    const r = await watch();
    expect(codesOf(r)).toEqual(['rows-dropped']);
    expect(r.posted).toEqual([{ code: 'rows-dropped', kind: 'new' }]);
    expect(ch.text()).toContain('public.billing_transaction: 20,000 → 14,000 (−30 %)');
    expect(ch.text()).toContain(`dbwarden restore ${backup.id} --to ${target.display}`);
    expect(ch.text()).not.toContain(db.password);
    // Posted once: the next rounds see it still open and stay quiet.
    expect((await watch()).posted).toEqual([]);
    expect((await watch()).posted).toEqual([]);
    expect(ch.reports).toHaveLength(1);
    await db.sql('INSERT INTO billing_transaction SELECT * FROM saved; DROP TABLE saved');
    const back = await watch();
    expect(back.warnings).toEqual([]);
    expect(back.posted).toEqual([{ code: 'rows-dropped', kind: 'resolved' }]);
    expect(ch.reports[1]).toMatchObject({ level: 'ok' });
  });

  it('an open warning is posted again after a day as a reminder, never sooner', async () => {
    await reseed();
    let now = new Date();
    const { store, watch, ch } = setup({ clock: () => now });
    const good = await goodBackup(store);
    await watch();
    await db.sql('DELETE FROM billing_transaction WHERE id % 2 = 0');
    expect((await watch()).posted).toEqual([{ code: 'rows-dropped', kind: 'new' }]);
    const later = async (hours: number) => {
      now = new Date(Date.now() + hours * 3_600_000);
      const startedAt = new Date(now.getTime() - 60_000).toISOString();
      await writeManifests(store, [
        manifest({
          ...good,
          id: newBackupId(new Date(startedAt)),
          startedAt,
          finishedAt: new Date(now.getTime() - 1000).toISOString(),
        }),
      ]);
      return watch();
    };
    expect((await later(23)).posted).toEqual([]);
    expect((await later(25)).posted).toEqual([{ code: 'rows-dropped', kind: 'reminder' }]);
    expect(ch.text()).toContain('Still open: Rows vanished');
    expect((await later(26)).posted).toEqual([]);
  });

  it('TRUNCATE one watched table → rows-dropped; a Django-like flush of every table → database-emptied', async () => {
    await reseed();
    const { store, watch } = setup();
    await goodBackup(store);
    await watch();
    await db.sql('TRUNCATE billing_transaction');
    expect(codesOf(await watch())).toEqual(['rows-dropped']);
    await db.sql(
      'TRUNCATE auth_user, billing_customer, billing_meter, billing_transaction, django_migrations',
    );
    const r = await watch();
    expect(codesOf(r)).toContain('database-emptied');
    const w = r.warnings.find((x) => x.code === 'database-emptied')!;
    expect(w.details).toContain('public.auth_user: 40 → 0');
    expect(w.wayBack).not.toBeNull();
    expect(r.posted).toContainEqual({ code: 'database-emptied', kind: 'new' });
  });

  /** Real backups of the test database into `store`, as the backup service takes them (row counts included). */
  const backupsInto = (store: BlobStore) => {
    const b = backupServiceFor(db.url, store);
    targets.push(b.target);
    return (requestedBy = 'cli') => b.service.run({ requestedBy });
  };
  const FLUSH = 'TRUNCATE auth_user, billing_customer, billing_meter, billing_transaction, django_migrations';

  it('flush right after a backup → database-emptied names that backup, not an older one', async () => {
    await reseed();
    const { store, watch, ch, target } = setup();
    const backup = backupsInto(store);
    const nightly = await backup('schedule');
    await watch();
    const fresh = await backup('cli');
    await db.sql(FLUSH);
    const r = await watch();
    const w = r.warnings.find((x) => x.code === 'database-emptied')!;
    expect(w.wayBack?.backupId).toBe(fresh.id);
    expect(ch.text()).toContain(`dbwarden restore ${fresh.id} --to ${target.display}`);
    expect(ch.text()).not.toContain(nightly.id);
  });

  it('a backup taken after the data was emptied is never the way back; with no other, no "below"', async () => {
    await reseed();
    const { store, watch, ch } = setup();
    const backup = backupsInto(store);
    const good = await backup('schedule');
    await watch();
    await db.sql(FLUSH);
    const empty = await backup('cli'); // someone backs up the emptied database before the watch notices
    const r = await watch();
    const w = r.warnings.find((x) => x.code === 'database-emptied')!;
    expect(w.wayBack?.backupId).toBe(good.id);
    expect(ch.text()).not.toContain(`dbwarden restore ${empty.id}`);

    await reseed();
    const only = setup();
    const backupOnly = backupsInto(only.store);
    await only.watch();
    await db.sql(FLUSH);
    const emptyOnly = await backupOnly('cli');
    const r2 = await only.watch();
    const w2 = r2.warnings.find((x) => x.code === 'database-emptied')!;
    expect(w2.wayBack).toBeNull();
    expect(only.ch.text()).not.toContain(`dbwarden restore ${emptyOnly.id}`);
    expect(only.ch.text()).not.toContain('below');
    expect(only.ch.text()).toContain('No backup of this database holds the data');
  });

  it('no backup at all → the data-loss warning says so plainly, never "restore the backup below"', async () => {
    await reseed();
    const { watch, ch } = setup();
    await watch();
    await db.sql('DELETE FROM billing_transaction WHERE id % 2 = 0');
    const r = await watch();
    const w = r.warnings.find((x) => x.code === 'rows-dropped')!;
    expect(w.wayBack).toBeNull();
    expect(w.hint).not.toContain('below');
    expect(ch.text()).not.toContain('below');
    expect(ch.text()).toContain('No backup of this database holds the data');
  });

  it('`dbwarden preflight --backup` then a destructive deploy → the way back is that pre-migration backup', async () => {
    await reseed();
    const { cli } = cliOnStore('preflight');
    const nightly = JSON.parse((await cli(['backup', '--json'])).out).id as string;
    expect((await cli(['watch', '--once'])).code).toBe(0);
    await db.sql(`INSERT INTO auth_user (username, email, password)
      SELECT 'late' || i, 'l' || i || '@x.test', 'x' FROM generate_series(1, 5) i`);
    const pre = await cli(['preflight', '--backup', '--json']);
    expect(pre.code).toBe(0);
    const preBackup = JSON.parse(pre.out).backup.id as string;
    await db.sql('DROP TABLE billing_transaction');
    const after = await cli(['watch', '--once', '--json']);
    expect(after.code).toBe(3);
    const w = JSON.parse(after.out).warnings.find((x: { code: string }) => x.code === 'table-missing');
    expect(w.wayBack.backupId).toBe(preBackup);
    expect(after.err).toContain(`dbwarden restore ${preBackup}`);
    expect(after.err).not.toContain(nightly);
    expect(after.out + after.err + pre.out + pre.err).not.toContain(db.password);
  });

  it('DROP TABLE → table-missing (critical), with the backup from before', async () => {
    await reseed();
    const { store, watch } = setup();
    const backup = await goodBackup(store);
    await watch();
    await db.sql('DROP TABLE billing_transaction');
    const r = await watch();
    const w = r.warnings.find((x) => x.code === 'table-missing')!;
    expect(w.level).toBe('critical');
    expect(w.details).toEqual(['public.billing_transaction: had 20,000 rows']);
    expect(w.wayBack?.backupId).toBe(backup.id);
  });

  it('a stale, failed or shrunk backup from the store’s manifests', async () => {
    await reseed();
    let now = new Date();
    const { store, watch } = setup({ clock: () => now });
    const good = await goodBackup(store);
    await watch();
    now = new Date(Date.now() + 30 * 3_600_000);
    const stale = await watch();
    expect(codesOf(stale)).toEqual(['backup-stale']);
    expect(stale.warnings[0]!.message).toContain(good.id);
    now = new Date();
    const failed = manifest({
      id: newBackupId(new Date()),
      startedAt: new Date().toISOString(),
      status: 'failed',
      verified: false,
      // A failed run of this database (the backup service records the identity when the database answers).
      identity: good.identity,
      error: {
        code: 'backup-failed',
        message: 'pg_dump exited with code 1: permission denied for table billing_meter',
      },
    });
    await writeManifests(store, [failed]);
    const f = await watch();
    expect(codesOf(f)).toEqual(['backup-failed']);
    expect(f.posted).toEqual([
      { code: 'backup-failed', kind: 'new' },
      { code: 'backup-stale', kind: 'resolved' },
    ]);
    await store.delete(`backups/${failed.id}.json`);
    const shrunk = manifest({
      ...good,
      id: newBackupId(new Date()),
      startedAt: new Date().toISOString(),
      finishedAt: new Date(Date.now() + 1000).toISOString(),
      sizeBytes: 1000,
      tables: { 'public.auth_user': 0 },
    });
    await writeManifests(store, [shrunk]);
    const s = await watch();
    expect(codesOf(s)).toEqual(['backup-shrunk']);
    expect(s.warnings[0]!.details.join('\n')).toMatch(
      /less than half.*\n.*holds 1 tables; the database had 5/,
    );
  });

  it('not-production-database for a localhost URL with DBWARDEN_ENV=production', async () => {
    const { store, watch, ch } = setup({ environment: 'production' });
    await goodBackup(store);
    const r = await watch();
    expect(codesOf(r)).toEqual(['not-production-database']);
    expect(ch.text()).toContain('developer machine');
  });

  it.runIf(canControlCluster)(
    'server stopped → unreachable only after 2 checks; started → recovered',
    async () => {
      await reseed();
      const { store, watch, ch } = setup();
      await goodBackup(store);
      await watch();
      db.stop();
      try {
        const first = await watch();
        expect(first.reachable).toBe(false);
        expect(first.warnings).toEqual([]);
        const second = await watch();
        expect(codesOf(second)).toEqual(['unreachable']);
        expect(second.warnings[0]!.message).toContain('2 checks in a row');
        expect(second.posted).toEqual([{ code: 'unreachable', kind: 'new' }]);
        expect((await watch()).posted).toEqual([]);
      } finally {
        db.start();
      }
      const back = await watch();
      expect(codesOf(back)).toEqual(['recovered']);
      expect(back.posted).toEqual([{ code: 'unreachable', kind: 'resolved' }]);
      expect(ch.reports.map((r) => r.level)).toEqual(['critical', 'ok']);
      expect(ch.reports[1]!.title).toContain('reachable again');
    },
  );

  it.runIf(canControlCluster)(
    'cluster recreated (same name, port, schema) → database-replaced with the old backup; accept silences it',
    async () => {
      await reseed();
      const { store, watch, ch, deps, target } = setup();
      const old = await goodBackup(store);
      await watch();
      await db.recreate();
      await seedDemo(db.url);
      const r = await watch();
      // The new database is the one guarded now, and none of the backups is of it.
      expect(codesOf(r)).toEqual(['database-replaced', 'backup-stale']);
      expect(r.posted).toEqual([
        { code: 'database-replaced', kind: 'new' },
        { code: 'backup-stale', kind: 'new' },
      ]);
      expect(ch.text()).toContain(`dbwarden restore ${old.id} --to ${target.display}`);
      expect(ch.text()).toContain('deleted and recreated');
      expect(ch.text()).toContain('the good backups in the store are of another database');
      expect((await watch()).posted).toEqual([]);
      const accepted = await acceptCurrent(deps, 'cli:test');
      expect(accepted.cleared).toEqual(['database-replaced']);
      const after = await watch();
      expect(codesOf(after)).toEqual(['backup-stale']);
      expect(after.posted).toEqual([]);
      expect((await loadWatchState(store)).accepted?.by).toBe('cli:test');
    },
  );

  it('`dbwarden watch --once --json` and `dbwarden accept` from the CLI', async () => {
    await reseed();
    const { dir, cli } = cliOnStore('cli');
    await writeManifests(createFileStore(dir), [
      manifest({
        id: newBackupId(new Date(Date.now() - 60_000)),
        startedAt: new Date(Date.now() - 60_000).toISOString(),
        ...(await asBackedUp()),
      }),
    ]);
    const first = await cli(['watch', '--once', '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ reachable: true, warnings: [], posted: [] });
    await db.sql('DELETE FROM auth_user WHERE id > 10');
    const second = await cli(['watch', '--once', '--json']);
    expect(second.code).toBe(3);
    const json = JSON.parse(second.out);
    expect(json.warnings[0]).toMatchObject({ code: 'rows-dropped', level: 'critical' });
    expect(json.posted).toEqual([{ code: 'rows-dropped', kind: 'new' }]);
    // No chat configured: the console got the post.
    expect(second.err).toContain('Rows vanished');
    expect(second.out + second.err).not.toContain(db.password);
    const acc = await cli(['accept']);
    expect(acc.code).toBe(0);
    expect(acc.out).toContain('Accepted');
    const third = await cli(['watch', '--once']);
    expect(third.code).toBe(0);
    expect(third.out).toContain('No warnings');
    // Without a chat, a warning is printed once: as the post when it is new, as the round's report while open.
    await db.sql('DELETE FROM auth_user WHERE id > 5');
    const fresh = await cli(['watch', '--once']);
    expect(fresh.code).toBe(3);
    expect(fresh.out.match(/Rows vanished \[rows-dropped\]/g), fresh.out).toHaveLength(1);
    expect(fresh.err).not.toContain('Rows vanished');
    const still = await cli(['watch', '--once']);
    expect(still.code).toBe(3);
    expect(still.out.match(/Rows vanished \[rows-dropped\]/g)).toHaveLength(1);
  });

  it('`dbwarden watch` keeps watching on its cron until SIGTERM, posting a new loss as it happens', async () => {
    await reseed();
    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-watch-loop-'));
    dirs.push(dir);
    await writeManifests(createFileStore(dir), [
      manifest({
        id: newBackupId(new Date(Date.now() - 60_000)),
        startedAt: new Date(Date.now() - 60_000).toISOString(),
        ...(await asBackedUp()),
      }),
    ]);
    const p = spawnCli(['watch'], {
      DATABASE_URL: db.url,
      DBWARDEN_STORE: dir,
      DBWARDEN_ENV: 'staging',
      DBWARDEN_WATCH_TABLES: WATCH.join(','),
      DBWARDEN_WATCH_CRON: '*/2 * * * * *',
      LOG_LEVEL: 'info',
    });
    const log = () => p.log();
    try {
      await eventually(
        'the watch loop to start',
        () => (log().includes('"msg":"watching"') ? true : undefined),
        60_000,
      );
      await db.sql('DELETE FROM auth_user WHERE id > 10');
      await eventually(
        'the loss to be posted',
        () => (log().includes('Rows vanished') ? true : undefined),
        60_000,
      );
      // Two more rounds see the same loss: it is not posted again.
      const rounds = () => log().split('"msg":"watch round done"').length - 1;
      const after = rounds();
      await eventually('two more rounds', () => (rounds() >= after + 2 ? true : undefined), 60_000);
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
      expect(log().split('🚨 Rows vanished: app').length - 1).toBe(1);
      expect(log()).not.toContain(db.password);
    } finally {
      p.kill();
    }
  }, 120_000);
});
