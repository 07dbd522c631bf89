import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderText } from '../src/chat/console/render-text.js';
import { seedDemo } from '../src/demo/seed.js';
import { buildServices, type Services } from '../src/main.js';
import { createScheduler, RUNS_PREFIX } from '../src/serve/schedule.js';
import { scheduledJobs, startSchedule } from '../src/serve/scheduled-jobs.js';
import { useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
beforeAll(async () => {
  await seedDemo(db.url);
  // A role that may read everything but one table: pg_dump fails with "permission denied", as in real life.
  await db.sql(`CREATE ROLE limited LOGIN PASSWORD 'limited-pw';
    GRANT SELECT ON auth_user, billing_customer, billing_meter, billing_transaction TO limited`);
});

/** Services over the test database with a fresh store; the console channel captured as text. */
async function serve(
  url = db.url,
  dir = mkdtempSync(join(tmpdir(), 'dbwarden-sched-backup-')),
  extra: Record<string, string> = {},
  logDestination?: NodeJS.WritableStream,
) {
  dirs.push(dir);
  const out = new PassThrough();
  const channel = { text: '' };
  out.on('data', (c) => {
    channel.text += c;
  });
  const services = await buildServices({
    env: {
      DATABASE_URL: url,
      DBWARDEN_STORE: dir,
      DBWARDEN_ENV: 'staging',
      DBWARDEN_WATCH_TABLES: 'auth_user,billing_transaction',
      LOG_LEVEL: 'silent',
      ...extra,
    },
    consoleOutput: out,
    ...(logDestination ? { logDestination } : {}),
  });
  return { services, channel, dir };
}

const schedulerFor = (s: Services, id = 'one') =>
  createScheduler(scheduledJobs(s, { backups: s.backups ?? null }), {
    store: s.store,
    target: s.target,
    timezone: s.config.timezone,
    clock: s.clock,
    instanceId: id,
  });

describe('scheduled backups with the real backup service', () => {
  it('success is posted briefly and the digest confirms it', async () => {
    const { services, channel } = await serve();
    try {
      const outcome = await schedulerFor(services).runTick('backup', new Date('2026-11-24T03:00:00Z'));
      expect(outcome).toBe('ran');
      const [m] = await services.backups!.list();
      expect(m).toMatchObject({ status: 'complete', verified: true, requestedBy: 'schedule' });
      expect(channel.text).toMatch(/Backup of \S+ complete/);
      expect(channel.text).toContain(m!.id);
      const d = await services.digest();
      expect(d.backup).toMatchObject({ state: 'ok', latest: { id: m!.id } });
      expect(renderText(await services.digestReport())).toContain(`✅ ${m!.id}`);
      // The guard agrees: nothing to say about backups.
      const w = await services.watch();
      expect(w.warnings.filter((x) => x.code.startsWith('backup-'))).toEqual([]);
    } finally {
      await services.close();
    }
  });

  it('failure is posted loudly with the cause, once: the watch does not repeat it; the digest says FAILED', async () => {
    const url = new URL(db.url);
    url.username = 'limited';
    url.password = 'limited-pw';
    const { services, channel } = await serve(url.toString());
    try {
      const outcome = await schedulerFor(services).runTick('backup', new Date('2026-11-24T03:00:00Z'));
      expect(outcome).toBe('failed');
      expect(channel.text).toMatch(/🚨 Backup of \S+ failed/);
      // The cause, as the failed manifest records it (the table the role may not read).
      const [failed] = await services.backups!.list();
      expect(failed).toMatchObject({ status: 'failed', requestedBy: 'schedule' });
      expect(failed!.error?.message).toMatch(/permission denied for table/);
      expect(channel.text).toContain(failed!.error!.message.split('\n')[0]);
      expect(channel.text).not.toContain('limited-pw');
      const w = await services.watch();
      expect(w.warnings.map((x) => x.code)).toContain('backup-failed');
      expect(w.posted.map((p) => p.code)).not.toContain('backup-failed');
      expect(channel.text.match(/Backup failed \[backup-failed\]/g)).toHaveLength(1);
      const d = await services.digest();
      expect(d.backup.state).toBe('failed');
      expect(d.backup.failure?.message).toBe(failed!.error!.message);
    } finally {
      await services.close();
    }
  });

  it('two replicas starting after a missed night catch up with exactly one backup', async () => {
    const a = await serve();
    const b = await serve(db.url, a.dir);
    try {
      const [sa, sb] = await Promise.all([
        startSchedule(a.services, { backups: a.services.backups, instanceId: 'a', catchUpDelayMs: 0 }),
        startSchedule(b.services, { backups: b.services.backups, instanceId: 'b', catchUpDelayMs: 0 }),
      ]);
      const outcomes = await Promise.all([sa.catchUp, sb.catchUp]);
      await Promise.all([sa.stop(), sb.stop()]);
      expect(outcomes.sort()).toEqual(['elsewhere', 'ran']);
      expect(await a.services.backups!.list()).toHaveLength(1);
      expect((await a.services.store.list(`${RUNS_PREFIX}backup/catchup-none`)).length).toBeGreaterThan(0);
    } finally {
      await a.services.close();
      await b.services.close();
    }
  });

  it('with DBWARDEN_DRILL_CRON: backup-unverified until the scheduled drill restores the backup, then resolved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-sched-drill-'));
    const { services, channel } = await serve(db.url, dir, { DBWARDEN_DRILL_CRON: '30 3 * * *' });
    try {
      const s = schedulerFor(services);
      expect(await s.runTick('backup', new Date('2026-11-24T03:00:00Z'))).toBe('ran');
      const before = await services.watch();
      expect(before.posted).toContainEqual({ code: 'backup-unverified', kind: 'new' });
      expect(await s.runTick('drill', new Date('2026-11-24T03:30:00Z'))).toBe('ran');
      expect(channel.text).toContain('Restore drill ok');
      const [m] = await services.backups!.list();
      expect(m!.drill).toMatchObject({ ok: true });
      expect(m!.drill!.rows).toBeGreaterThan(20_000);
      const after = await services.watch();
      expect(after.warnings.map((w) => w.code)).not.toContain('backup-unverified');
      expect(after.posted).toContainEqual({ code: 'backup-unverified', kind: 'resolved' });
    } finally {
      await services.close();
    }
  });

  it('a catch-up re-checks when its timer fires: /backup-now took a verified backup meanwhile → no second dump', async () => {
    const log = new PassThrough();
    let logged = '';
    log.on('data', (c) => {
      logged += c;
    });
    const { services, channel } = await serve(db.url, undefined, { LOG_LEVEL: 'info' }, log);
    try {
      // Nothing in the store at start: the catch-up is decided, and waits its delay (long enough for the dump).
      const s = await startSchedule(services, { backups: services.backups, catchUpDelayMs: 8000 });
      expect(s.catchUp).not.toBeNull();
      // Meanwhile someone runs /backup-now.
      const now = await services.backups.run({ requestedBy: 'slack:U1' });
      const outcome = await s.catchUp;
      await s.stop();
      expect(outcome).toBe('fresh');
      expect((await services.backups.list()).map((m) => m.id)).toEqual([now.id]);
      expect(channel.text).not.toContain('Backup done');
      expect(logged).toMatch(new RegExp(`"newest":"${now.id}".*"msg":"[^"]*fresh now: no catch-up`));
    } finally {
      await services.close();
    }
  });

  it('a catch-up still waiting when serve stops is cancelled: no backup', async () => {
    const { services } = await serve();
    try {
      const s = await startSchedule(services, { backups: services.backups, catchUpDelayMs: 60_000 });
      expect(s.catchUp).not.toBeNull();
      await s.stop();
      expect(await s.catchUp).toBe('cancelled');
      expect(await services.backups.list()).toEqual([]);
    } finally {
      await services.close();
    }
  });
});
