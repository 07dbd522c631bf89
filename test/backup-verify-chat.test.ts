import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEVEL_COLOUR } from '../src/chat/discord/render-discord.js';
import { seedDemo } from '../src/demo/seed.js';
import { runScheduledDrill } from '../src/serve/scheduled-jobs.js';
import { runCliCaptured } from './helpers/cli.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';
import { APP, useDiscordBot } from './helpers/discord-bot.js';
import { type FakeSlack, header, inChannel, startFakeSlack, viaResponseUrl } from './helpers/fake-slack.js';
import { startBot } from './helpers/slack-bot.js';

/** /backup-verify from chat: a real restore drill of a real backup, recorded in its manifest. */
const db = useTestCluster();
const discord = useDiscordBot(db);
let fake: FakeSlack;

beforeAll(async () => {
  await seedDemo(db.url);
  fake = await startFakeSlack();
});
afterAll(async () => {
  await fake?.close();
});

describe('/backup-verify in Slack', () => {
  it('drills the backup named by its short id, shows progress, and records the drill in the manifest', async () => {
    const bot = await startBot(fake, {
      mode: 'socket',
      databaseUrl: db.url,
      env: { DBWARDEN_BACKUP_USERS: 'U0ALICE' },
    });
    try {
      const taken = await bot.services.backups.run({ requestedBy: 'cli' });
      expect(taken.drill).toBeNull();
      fake.sendSlashCommand({
        command: '/backup-verify',
        channelId: 'C0DRILL',
        text: taken.id.slice(-6, -2),
      });
      // A second drill while the first runs is refused, privately.
      await fake.waitFor(inChannel('C0DRILL'), 60_000);
      const second = fake.sendSlashCommand({
        command: '/backup-verify',
        channelId: 'C0DRILL2',
        userId: 'U0ALICE',
      });
      const done = await fake.waitFor((c) => inChannel('C0DRILL')(c) && header(c).includes('ok'), 120_000);
      const calls = fake.calls.filter(inChannel('C0DRILL'));
      expect(header(calls[0]!)).toBe('✅ production · Restore drill of app running');
      expect(JSON.stringify(calls[0]!.body)).toContain('alice (slack:U0ALICE)');
      expect(header(done)).toBe('✅ production · Restore drill ok: app');
      expect(JSON.stringify(done.body)).toContain('every table matches the backup’s manifest');
      const m = (await bot.services.catalog.read(taken.id))!;
      expect(m.drill?.ok).toBe(true);
      expect(m.drill?.rows).toBeGreaterThan(0);
      expect(JSON.stringify(done.body)).toContain(`${m.drill!.tables} tables`);

      const refused = await fake.waitFor(viaResponseUrl(second.responseUrl), 60_000);
      expect(refused.body.response_type).toBe('ephemeral');
      expect(header(refused)).toBe('⚠️ production · Drill already running');

      // Not listed: refused privately, nothing runs.
      const mallory = fake.sendSlashCommand({
        command: '/backup-verify',
        userId: 'U0MALLORY',
        text: 'latest',
      });
      const no = await fake.waitFor(viaResponseUrl(mallory.responseUrl), 60_000);
      expect(no.body.response_type).toBe('ephemeral');
      expect(header(no)).toBe('⚠️ production · Not allowed');
      expect(JSON.stringify(no.body)).toContain('your user ID (U0MALLORY)');

      // A ref that names nothing: a warning that says what to type.
      fake.sendSlashCommand({ command: '/backup-verify', channelId: 'C0TYPO', text: 'ffff' });
      const typo = await fake.waitFor(inChannel('C0TYPO'), 60_000);
      expect(header(typo)).toBe('⚠️ production · Unknown backup');
      expect(JSON.stringify(typo.body)).toContain('/db-backups');
      for (const c of fake.calls) expect(JSON.stringify(c.body)).not.toContain(db.password);
    } finally {
      await bot.stop();
    }
  });
});

describe('/backup-verify on Discord', () => {
  it('drills `latest` and answers with the result', async () => {
    const { services } = await discord.start();
    try {
      const taken = await services.backups.run({ requestedBy: 'cli' });
      const { token } = discord.fake.sendCommand({
        name: 'backup-verify',
        options: [{ name: 'id', type: 3, value: 'latest' }],
      });
      const done = await discord.fake.waitForCall(
        (c) =>
          c.method === 'PATCH' &&
          c.path === `/webhooks/${APP}/${token}/messages/@original` &&
          String(c.body.embeds?.[0]?.title).startsWith('Restore drill ok'),
        120_000,
      );
      expect(done.body.embeds[0].color).toBe(LEVEL_COLOUR.ok);
      expect((await services.catalog.read(taken.id))!.drill?.ok).toBe(true);
    } finally {
      await discord.stopAll();
    }
  });
});

describe('one restore drill at a time: chat, the schedule and the CLI', () => {
  it('a drill running elsewhere refuses the others clearly, naming it; nothing is recorded for them', async () => {
    // Every drill restores into this one scratch database.
    const scratch = new URL(db.url);
    const database = scratch.pathname.slice(1);
    await db.sql(`CREATE DATABASE ${database}_drill`);
    scratch.pathname = `/${database}_drill`;
    const drillUrl = scratch.toString();
    await adminQuery(drillUrl, 'CREATE TABLE held (id int)');
    const bot = await startBot(fake, {
      mode: 'socket',
      databaseUrl: db.url,
      env: { DBWARDEN_BACKUP_USERS: 'U0ALICE', DBWARDEN_DRILL_URL: drillUrl },
    });
    const { services } = bot;
    const holder = new pg.Client({ connectionString: drillUrl });
    await holder.connect();
    try {
      const taken = await services.backups.run({ requestedBy: 'cli' });
      const recorded = (await services.catalog.read(taken.id))!;
      // A drill that stays running: the scratch database's table is held, so its wipe waits for the test.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE held IN ACCESS SHARE MODE');
      const running = services.verify(taken, { drill: true, requestedBy: 'discord:500000000000000042' });
      await until(async () => {
        const r = await db.sql(
          "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'dbwarden drill:%' AND datname = $1",
          [database],
        );
        return r.rowCount;
      });
      const named = `A restore drill of app (backup …${taken.id.slice(-6)}) is already running, started by discord:500000000000000042`;

      // The schedule's drill (another replica's alike): refused, posted as a drill that could not run.
      await expect(services.verify(taken, { drill: true, requestedBy: 'schedule' })).rejects.toMatchObject({
        code: 'drill-running',
        message: `${named}: drills run one at a time`,
      });
      await runScheduledDrill(services);
      const scheduled = fake.api('chat.postMessage').at(-1)!;
      expect(header(scheduled)).toBe('⚠️ production · Restore drill could not run: app');
      expect(JSON.stringify(scheduled.body)).toContain(named);

      // `dbwarden verify --drill` in another process.
      const cli = await runCliCaptured(['verify', taken.id, '--drill'], {
        DATABASE_URL: db.url,
        DBWARDEN_STORE: services.store.location,
        DBWARDEN_DRILL_URL: drillUrl,
      });
      expect(cli.code).toBe(1);
      expect(cli.err).toContain(named);

      // /backup-verify: this process runs no drill of its own, the target's drill lock says who does.
      fake.sendSlashCommand({ command: '/backup-verify', channelId: 'C0BUSY', text: 'latest' });
      const busy = await fake.waitFor(
        (c) => inChannel('C0BUSY')(c) && header(c).includes('Drill already running'),
        60_000,
      );
      expect(JSON.stringify(busy.body)).toContain(named);
      // None of them checked or recorded anything.
      expect(await services.catalog.read(taken.id)).toEqual(recorded);

      // The running drill goes on once its scratch database is free, and is the one recorded.
      await holder.query('COMMIT');
      const done = await running;
      expect(done.problem).toBeNull();
      expect(done.manifest.drill?.ok).toBe(true);
      // Released: the next drill runs.
      const next = await services.verify(taken, { drill: true, requestedBy: 'cli' });
      expect(next.problem).toBeNull();
      for (const c of fake.calls) expect(JSON.stringify(c.body)).not.toContain(db.password);
    } finally {
      await holder.end().catch(() => {});
      await bot.stop();
    }
  });
});

/** Resolves once `probe` answers something truthy (the test's own timeout bounds it). */
async function until(probe: () => Promise<unknown>): Promise<void> {
  while (!(await probe())) await new Promise((r) => setTimeout(r, 50));
}
