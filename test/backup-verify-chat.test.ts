import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEVEL_COLOUR } from '../src/chat/discord/render-discord.js';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';
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
