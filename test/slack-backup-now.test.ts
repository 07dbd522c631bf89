import { basename } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';
import {
  type FakeSlack,
  header,
  inChannel,
  payloadsWithoutCredential,
  type RecordedCall,
  startFakeSlack,
  viaResponseUrl,
} from './helpers/fake-slack.js';
import { startBot } from './helpers/slack-bot.js';

/** /backup-now through Bolt against the fake Slack, with real pg_dump into a real store. */
const db = useTestCluster();
let fake: FakeSlack;

beforeAll(async () => {
  await seedDemo(db.url);
  // Enough data that a backup takes a moment: long enough to be seen running by a second request.
  await db.sql(
    `CREATE TABLE events AS SELECT g AS id, md5(g::text) AS payload, now() AS at FROM generate_series(1, 300000) g`,
  );
  fake = await startFakeSlack();
});
afterAll(async () => {
  await fake?.close();
});

/** Only posts Slack accepted: a refused post is not what the channel shows. */
const acceptedIn = (channel: string) => inChannel(channel, { accepted: true });
const json = (c: RecordedCall) => JSON.stringify(c.body);
/** A refusal reached only the asker: ephemeral, a warning (never the siren), and nothing in the channel. */
function expectPrivateRefusal(answer: RecordedCall, channel: string, title: string): void {
  expect(answer.body.response_type).toBe('ephemeral');
  expect(header(answer)).toBe(`⚠️ production · ${title}`);
  expect(json(answer)).not.toContain('🚨');
  expect(fake.calls.filter((c) => c.kind === 'api' && c.body.channel === channel)).toEqual([]);
}

describe('/backup-now in Slack', () => {
  it('acks, posts progress, edits it in place and ends with a confirmation whose backup is in the store', async () => {
    const bot = await startBot(fake, { mode: 'socket', databaseUrl: db.url, slack: { editIntervalMs: 300 } });
    try {
      const { envelopeId } = fake.sendSlashCommand({
        command: '/backup-now',
        channelId: 'C0BACKUP',
        userId: 'U0ALICE',
        userName: 'alice',
      });
      const done = await fake.waitFor(
        (c) => acceptedIn('C0BACKUP')(c) && header(c).includes('complete'),
        120_000,
      );
      const calls = fake.calls.filter(acceptedIn('C0BACKUP'));
      const ack = fake.calls.find((c) => c.kind === 'ack' && c.method === envelopeId)!;
      expect(ack.seq).toBeLessThan(calls[0]!.seq);
      // One message: posted once with progress, then only edited.
      expect(calls[0]!.method).toBe('chat.postMessage');
      expect(header(calls[0]!)).toBe('✅ production · Backing up app');
      expect(json(calls[0]!)).toContain('alice (slack:U0ALICE)');
      expect(json(calls[0]!)).toMatch(/Starting · 0 B/);
      expect(calls.slice(1).every((c) => c.method === 'chat.update')).toBe(true);
      expect(calls.at(-1)).toBe(done);
      expect(header(done)).toBe('✅ production · Backup of app complete');

      const m = (await bot.services.backups.latestGood())!;
      expect(m.requestedBy).toBe('slack:U0ALICE');
      expect(json(done)).toContain(m.id);
      expect(json(done)).toContain(`${m.sha256.slice(0, 12)}…`);
      expect(json(done)).toContain('✓ checksum and archive list');
      const blob = await bot.services.store.stat(m.dumpKey);
      expect(blob?.size).toBe(m.sizeBytes);
      expect(m.sizeBytes).toBeGreaterThan(1_000_000);
      expect(String(done.body.text)).toContain(`Backup ${m.id} of app`);
      // The footer names the store, not the server's filesystem path; the header already shows the environment.
      const blocks = done.body.blocks as { type: string; elements?: { text: string }[] }[];
      expect(blocks.at(-1)).toEqual({
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `stored in the file store ${basename(bot.services.store.location)}` },
        ],
      });
      expect(json(done)).not.toContain(bot.services.store.location);

      // Straight after, anyone not listed in DBWARDEN_BACKUP_USERS waits out the cooldown: told privately.
      const again = fake.sendSlashCommand({
        command: '/backup-now',
        channelId: 'C0AGAIN',
        userId: 'U0BOB',
        userName: 'bob',
      });
      const wait = await fake.waitFor(viaResponseUrl(again.responseUrl), 60_000);
      expectPrivateRefusal(wait, 'C0AGAIN', 'Please wait');
      expect(json(wait)).toContain('the next one can start in');
      for (const c of fake.calls) expect(json(c)).not.toContain(db.password);
    } finally {
      await bot.stop();
    }
  });

  it('refuses a user not in DBWARDEN_BACKUP_USERS, and starts nothing', async () => {
    const bot = await startBot(fake, {
      mode: 'socket',
      databaseUrl: db.url,
      env: { DBWARDEN_BACKUP_USERS: 'U0ADMIN,U0OPS' },
    });
    try {
      const before = (await bot.services.backups.list()).length;
      const { responseUrl } = fake.sendSlashCommand({
        command: '/backup-now',
        channelId: 'C0NOPE',
        userId: 'U0MALLORY',
        userName: 'mallory',
      });
      // Only mallory is told, and the channel never learns who tried.
      const answer = await fake.waitFor(viaResponseUrl(responseUrl), 60_000);
      expectPrivateRefusal(answer, 'C0NOPE', 'Not allowed');
      expect(json(answer)).toContain('You may not start backups of app');
      expect(json(answer)).toContain('your user ID (U0MALLORY)');
      expect(json(answer)).toContain('DBWARDEN_BACKUP_USERS');
      expect(bot.services.backups.running()).toBeNull();
      expect((await bot.services.backups.list()).length).toBe(before);
    } finally {
      await bot.stop();
    }
  });

  it('refuses a second /backup-now while one runs, naming who started the first', async () => {
    const bot = await startBot(fake, { mode: 'http', databaseUrl: db.url });
    const send = async (channelId: string, userId: string, userName: string) => {
      const { body, responseUrl } = fake.slashForm({ command: '/backup-now', channelId, userId, userName });
      const res = await fetch(`${bot.url}/slack/events`, { method: 'POST', body, headers: fake.sign(body) });
      expect(res.status).toBe(200);
      return responseUrl;
    };
    try {
      await send('C0FIRST', 'U0ALICE', 'alice');
      // The first backup is running once its progress message is posted.
      await fake.waitFor(acceptedIn('C0FIRST'), 60_000);
      const second = await send('C0SECOND', 'U0BOB', 'bob');
      const refusal = await fake.waitFor(viaResponseUrl(second), 60_000);
      expectPrivateRefusal(refusal, 'C0SECOND', 'Backup already running');
      expect(json(refusal)).toContain('started by alice (slack:U0ALICE)');
      // /db-status meanwhile says a backup is running, who started it and how far it is.
      const status = fake.slashForm({ command: '/db-status', channelId: 'C0STATUS', userId: 'U0CAROL' });
      await fetch(`${bot.url}/slack/events`, {
        method: 'POST',
        body: status.body,
        headers: fake.sign(status.body),
      });
      const answer = await fake.waitFor(acceptedIn('C0STATUS'), 60_000);
      const running = bot.services.backups.running();
      if (running)
        expect(json(answer)).toMatch(/\*Backup running\*\\nstarted by slack:U0ALICE (just now|\d+ min ago)/);
      // The first one still finishes and is confirmed.
      await fake.waitFor((c) => acceptedIn('C0FIRST')(c) && header(c).includes('complete'), 120_000);
      expect(fake.calls.filter(viaResponseUrl(second))).toHaveLength(1);
      expect(fake.calls.filter((c) => c.kind === 'api' && c.body.channel === 'C0SECOND')).toEqual([]);
      const all = await bot.services.backups.list();
      expect(all.filter((m) => m.requestedBy === 'slack:U0BOB')).toHaveLength(0);
    } finally {
      await bot.stop();
    }
  });

  it('/db-status says a backup is running: who started it and how far it is', async () => {
    const bot = await startBot(fake, { mode: 'socket', databaseUrl: db.url });
    // A transaction holding the table keeps pg_dump waiting for its lock: the backup is running, for certain.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      fake.sendSlashCommand({
        command: '/backup-now',
        channelId: 'C0RUN',
        userId: 'U0DAVE',
        userName: 'dave',
      });
      await fake.waitFor(acceptedIn('C0RUN'), 60_000);
      expect(bot.services.backups.running()?.requestedBy).toBe('slack:U0DAVE');
      // A channel of its own: the test above answered /db-status in C0STATUS already.
      fake.sendSlashCommand({ command: '/db-status', channelId: 'C0RUNSTATUS', userId: 'U0CAROL' });
      const answer = await fake.waitFor(acceptedIn('C0RUNSTATUS'), 60_000);
      expect(json(answer)).toMatch(
        /\*Backup running\*\\nstarted by slack:U0DAVE just now · (Starting|Dumping) \d+ (B|kB)/,
      );
      await holder.query('COMMIT');
      await fake.waitFor((c) => acceptedIn('C0RUN')(c) && header(c).includes('complete'), 120_000);
      // Once it is done, status says nothing of it.
      fake.sendSlashCommand({ command: '/db-status', channelId: 'C0STATUS2' });
      expect(json(await fake.waitFor(acceptedIn('C0STATUS2'), 60_000))).not.toContain('Backup running');
    } finally {
      await holder.end();
      await bot.stop();
    }
  });

  it('never sends the database password or a token to Slack', () => {
    for (const raw of payloadsWithoutCredential(fake))
      for (const s of [db.password, fake.botToken, fake.appToken, fake.signingSecret])
        expect(raw).not.toContain(s);
  });
});
