import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatCommand } from '../src/chat/commands.js';
import { createCommandRunner } from '../src/chat/run-command.js';
import { type SlackBot, startSlack } from '../src/chat/slack/slack.js';
import { SlackCallFailed, slackWebClient } from '../src/chat/slack/slack-api.js';
import { slackNotifier } from '../src/chat/slack/slack-notifier.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/log.js';
import type { Report } from '../src/core/report.js';
import { createRedactor } from '../src/core/secrets.js';
import { type FakeSlack, inChannel, startFakeSlack } from './helpers/fake-slack.js';

/**
 * The adapter is generic: any ChatCommand is acknowledged, its first Report posted and later ones edited in place
 * (throttled). These commands stand in for long jobs such as /backup-now; the database is not involved.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const step = (i: number, n: number): Report => ({
  title: 'Long job',
  level: 'ok',
  summary: `step ${i} of ${n}`,
  fields: [],
  sections: [],
  progress: { fraction: i / n, label: `step ${i} of ${n}` },
});
const done = (who: string): Report => ({
  title: 'Long job done',
  level: 'ok',
  summary: `done for ${who}`,
  fields: [{ label: 'Result', value: 'all good' }],
  sections: [],
});

const commands: ChatCommand[] = [
  {
    name: 'long-job',
    description: 'emits progress, then a result',
    usage: '',
    async run(_args, user, reply) {
      for (let i = 0; i <= 20; i++) {
        await reply.update(step(i, 20));
        await sleep(25);
      }
      await reply.update(done(user.id));
    },
  },
  Object.assign(
    {
      name: 'private-job',
      description: 'emits progress only the caller sees',
      usage: '[me]',
      async run(_args: string, user: { id: string }, reply: { update(r: Report): Promise<void> }) {
        for (let i = 0; i <= 10; i++) {
          await reply.update(step(i, 10));
          await sleep(60);
        }
        await reply.update(done(user.id));
      },
    },
    { ephemeral: () => true },
  ),
  {
    name: 'broken-job',
    description: 'throws',
    usage: '',
    async run() {
      throw new Error('kaput in the middle');
    },
  },
];

let fake: FakeSlack;
let bot: SlackBot;
let logs = '';

beforeAll(async () => {
  fake = await startFakeSlack();
  const config = loadConfig({
    DATABASE_URL: 'postgres://app:unused@127.0.0.1:1/app',
    SLACK_BOT_TOKEN: fake.botToken,
    SLACK_APP_TOKEN: fake.appToken,
    SLACK_API_URL: fake.apiUrl,
    DBWARDEN_ENV: 'staging',
  });
  const stream = new PassThrough();
  stream.on('data', (d) => (logs += d));
  const logger = createLogger({ level: 'info', redact: createRedactor([]), destination: stream });
  bot = await startSlack({
    config,
    environment: config.environment,
    commands,
    runner: createCommandRunner(),
    logger,
    redact: createRedactor([]),
    http: null,
    tuning: { editIntervalMs: 200 },
  });
});
afterAll(async () => {
  await bot?.stop();
  await fake?.close();
});

describe('Slack adapter, any ChatCommand', () => {
  it('posts the first report, then edits the same message, throttled, ending with the result', async () => {
    const { envelopeId } = fake.sendSlashCommand({
      command: '/long-job',
      channelId: 'C0LONG',
      userId: 'U0BOB',
    });
    await fake.waitFor((c) => c.method === 'chat.update' && String(c.body.text) === 'done for U0BOB');
    const ack = fake.calls.find((c) => c.kind === 'ack' && c.method === envelopeId)!;
    const calls = fake.calls.filter(inChannel('C0LONG'));
    expect(calls[0]!.method).toBe('chat.postMessage');
    expect(ack.seq).toBeLessThan(calls[0]!.seq);
    const updates = calls.slice(1);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.every((c) => c.method === 'chat.update')).toBe(true);
    const ts = calls[0]!.body.ts ?? null;
    expect(ts).toBeNull(); // the post carries no ts; every edit names the one Slack returned
    expect(new Set(updates.map((c) => c.body.ts)).size).toBe(1);
    // 22 reports in about half a second: coalesced, not one API call each.
    expect(calls.length).toBeLessThan(22);
    expect(JSON.stringify(updates.at(-1)!.body.blocks)).toContain('*Result*\\nall good');
    expect(JSON.stringify(calls[0]!.body.blocks)).toContain('░░░░░░░░░░░░░░░░░░░░ 0%');
    expect(JSON.stringify(calls[0]!.body.blocks)).toContain('staging · Long job');
  });

  it('a failed progress edit does not stop the job; the result is still delivered', async () => {
    fake.failNext('chat.update', { status: 200, error: 'message_not_found' });
    fake.sendSlashCommand({ command: '/long-job', channelId: 'C0LOSSY', userId: 'U0FAY' });
    await fake.waitFor((c) => c.method === 'chat.update' && String(c.body.text) === 'done for U0FAY');
    const edits = fake.api('chat.update').filter((c) => c.body.channel === 'C0LOSSY');
    // The first edit was refused; later edits and the result went on to the same message.
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(new Set(edits.map((c) => c.body.ts)).size).toBe(1);
    expect(logs).toContain('"slackError":"message_not_found"');
    expect(logs).toContain('progress update not delivered');
  });

  it('keeps an ephemeral job within the response_url budget and always delivers the result', async () => {
    const { responseUrl } = fake.sendSlashCommand({
      command: '/private-job',
      channelId: 'C0PRIV',
      userId: 'U0EVE',
    });
    const id = responseUrl.split('/').at(-1)!;
    await fake.waitFor(
      (c) => c.kind === 'response_url' && c.method === id && c.body.text === 'done for U0EVE',
    );
    const answers = fake.calls.filter((c) => c.kind === 'response_url' && c.method === id);
    expect(answers.length).toBeLessThanOrEqual(5);
    expect(answers.every((c) => c.body.response_type === 'ephemeral')).toBe(true);
    expect(answers[0]!.body.replace_original).toBe(false);
    expect(answers.slice(1).every((c) => c.body.replace_original === true)).toBe(true);
    expect(fake.calls.some((c) => c.body.channel === 'C0PRIV')).toBe(false);
  });

  it('answers a failing command with a readable error report, never a stack trace', async () => {
    fake.sendSlashCommand({ command: '/broken-job', channelId: 'C0BROKEN' });
    const post = await fake.waitFor(inChannel('C0BROKEN'));
    const json = JSON.stringify(post.body);
    expect(json).toContain('/broken-job failed');
    expect(json).toContain('kaput in the middle');
    expect(json).not.toMatch(/\bat .+:\d+:\d+/);
    expect(json).not.toContain('slack-commands.test');
    expect(logs).toContain('"command":"broken-job"');
  });

  it('reconnects after the WebSocket drops and keeps answering', async () => {
    const connects = () => fake.calls.filter((c) => c.kind === 'connect').length;
    const before = connects();
    fake.dropSocket();
    await fake.waitFor((c) => c.kind === 'connect' && connects() > before, 60_000);
    fake.sendSlashCommand({ command: '/long-job', channelId: 'C0AGAIN', userId: 'U0DAN' });
    await fake.waitFor((c) => c.method === 'chat.update' && String(c.body.text) === 'done for U0DAN');
    expect(bot.connected()).toBe(true);
  });

  it('does not wait out a Retry-After longer than the policy allows: rejects at once, logged', async () => {
    const notifier = slackNotifier({
      client: slackWebClient(fake.botToken, fake.apiUrl, quietLogger()),
      channel: 'C0LATER',
      logger: quietLogger((line) => (logs += line)),
    });
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 600 });
    const err = await notifier.post(done('nobody')).catch((e) => e);
    expect(err).toBeInstanceOf(SlackCallFailed);
    expect(err.slackCode).toBe('ratelimited');
    expect(fake.api('chat.postMessage').filter((c) => c.body.channel === 'C0LATER')).toHaveLength(1);
    expect(logs).toMatch(/"slackError":"ratelimited","method":"chat.postMessage","attempts":1/);
  });
});

/** A logger that hands its lines to `sink` (or drops them). */
function quietLogger(sink: (line: string) => void = () => {}) {
  const stream = new PassThrough();
  stream.on('data', (d) => sink(String(d)));
  return createLogger({ level: 'info', redact: createRedactor([]), destination: stream });
}
