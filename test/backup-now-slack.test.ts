import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';
import { type FakeSlack, type RecordedCall, startFakeSlack } from './helpers/fake-slack.js';
import { startBot } from './helpers/slack-bot.js';

const db = useTestCluster();
let fake: FakeSlack;
beforeAll(async () => {
  await seedDemo(db.url);
  fake = await startFakeSlack();
});
afterAll(async () => {
  await fake?.close();
});

const text = (c: RecordedCall) => JSON.stringify(c.body);

describe('/backup-now from Slack', () => {
  it('acks, shows progress in the channel, then edits it into the confirmation; recorded as slack:<user>', async () => {
    const bot = await startBot(fake, { mode: 'socket', databaseUrl: db.url });
    try {
      await fake.socketOpen();
      fake.sendSlashCommand({ command: '/backup-now', channelId: 'C0BACKUP', userId: 'U0OPS' });
      const done = await fake.waitFor(
        (c) =>
          c.kind === 'api' &&
          /^chat\.(postMessage|update)$/.test(c.method) &&
          c.body.channel === 'C0BACKUP' &&
          text(c).includes('Backup of app complete'),
      );
      const m = (await bot.services.backups.latestGood())!;
      expect(m.requestedBy).toBe('slack:U0OPS');
      expect(text(done)).toContain(m.id);
      expect(text(done)).toContain(m.sha256.slice(0, 12));
      const first = fake.calls.find((c) => c.kind === 'api' && c.body.channel === 'C0BACKUP');
      expect(text(first!)).toContain('Backing up app');
      for (const c of fake.calls) expect(text(c)).not.toContain(db.password);
    } finally {
      await bot.stop();
    }
  });
});
