import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SlackCallFailed } from '../src/chat/slack/slack-api.js';
import type { Report } from '../src/core/report.js';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';
import {
  type FakeSlack,
  payloadsWithoutCredential,
  type RecordedCall,
  startFakeSlack,
} from './helpers/fake-slack.js';
import { type RunningBot, startBot } from './helpers/slack-bot.js';
import { cliProcess } from './helpers/spawn-cli.js';

const db = useTestCluster();
let fake: FakeSlack;
/** Passwords of every database URL the bot was given: none may reach Slack. */
const passwords: string[] = [];

beforeAll(async () => {
  await seedDemo(db.url);
  passwords.push(db.password);
  fake = await startFakeSlack();
});
afterAll(async () => {
  await fake?.close();
});

/** A closed port: connecting is refused at once. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server that accepts connections and never answers: a hung database. */
async function silentServer(): Promise<Server> {
  const s = createServer(() => {});
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

function downUrl(port: number): string {
  const password = `down-${Date.now().toString(36)}-pw`;
  passwords.push(password);
  return `postgres://app:${password}@127.0.0.1:${port}/app`;
}

const text = (c: RecordedCall) => JSON.stringify(c.body);
const toChannel = (channel: string) => (c: RecordedCall) =>
  c.kind === 'api' && c.method === 'chat.postMessage' && c.body.channel === channel && c.status === 200;

async function withBot(opts: Parameters<typeof startBot>[1], fn: (b: RunningBot) => Promise<void>) {
  const bot = await startBot(fake, opts);
  try {
    await fn(bot);
  } finally {
    await bot.stop();
  }
}

describe('Slack in Socket Mode', () => {
  it('connects with the app token and answers /db-status in the channel, acked before the answer', async () => {
    await withBot({ mode: 'socket', databaseUrl: db.url }, async ({ bot }) => {
      await fake.socketOpen();
      expect(bot.mode).toBe('socket');
      expect(bot.connected()).toBe(true);
      expect(fake.api('apps.connections.open').length).toBeGreaterThan(0);
      expect(fake.api('auth.test').length).toBeGreaterThan(0);

      const { envelopeId } = fake.sendSlashCommand({ command: '/db-status', channelId: 'C0SOCK' });
      const post = await fake.waitFor(toChannel('C0SOCK'));
      const ack = fake.calls.find((c) => c.kind === 'ack' && c.method === envelopeId);
      expect(ack).toBeDefined();
      expect(ack!.seq).toBeLessThan(post.seq);
      // The answer: header with environment and level emoji (no backup yet: a warning), fields, the warning as
      // small print, and a plain-text fallback.
      expect(post.body.blocks).toContainEqual({
        type: 'header',
        text: { type: 'plain_text', text: '⚠️ production · app', emoji: true },
      });
      expect(post.body.blocks).toContainEqual({
        type: 'context',
        elements: [{ type: 'mrkdwn', text: expect.stringContaining('No good backup yet') }],
      });
      expect(text(post)).toContain('*Reachable*\\nyes');
      expect(text(post)).toContain('PostgreSQL');
      expect(text(post)).toContain('auth_user: 40 rows');
      expect(String(post.body.text)).toMatch(/^⚠️ production database app: No good backup yet/);
    });
  });

  it('answers /db-status me ephemerally through the response_url, not in the channel', async () => {
    await withBot({ mode: 'socket', databaseUrl: db.url }, async () => {
      await fake.socketOpen();
      const { responseUrl } = fake.sendSlashCommand({ command: '/db-status', text: 'me', channelId: 'C0ME' });
      const id = responseUrl.split('/').at(-1)!;
      const answer = await fake.waitFor((c) => c.kind === 'response_url' && c.method === id);
      expect(answer.body.response_type).toBe('ephemeral');
      expect(text(answer)).toContain('production · app');
      expect(fake.calls.some((c) => c.kind === 'api' && c.body.channel === 'C0ME')).toBe(false);
    });
  });

  it('acks at once while the database hangs, then answers with the reason', async () => {
    const silent = await silentServer();
    try {
      await withBot(
        {
          mode: 'socket',
          databaseUrl: downUrl((silent.address() as AddressInfo).port),
          env: { DBWARDEN_CONNECT_TIMEOUT: '2s' },
        },
        async () => {
          await fake.socketOpen();
          const { envelopeId } = fake.sendSlashCommand({ command: '/db-status', channelId: 'C0SLOW' });
          const ack = await fake.waitFor((c) => c.kind === 'ack' && c.method === envelopeId);
          // The ack is in before any answer exists: the probe is still waiting for the silent server.
          expect(fake.calls.some((c) => c.body.channel === 'C0SLOW')).toBe(false);
          const post = await fake.waitFor(toChannel('C0SLOW'));
          expect(ack.seq).toBeLessThan(post.seq);
          expect(post.body.blocks).toContainEqual({
            type: 'header',
            text: { type: 'plain_text', text: '🚨 production · app', emoji: true },
          });
          expect(text(post)).toContain('No answer from 127.0.0.1');
          expect(String(post.body.text)).toContain('unreachable');
        },
      );
    } finally {
      silent.close();
    }
  });

  it('answers with the reason when the database is down (connection refused), never a stack trace', async () => {
    await withBot({ mode: 'socket', databaseUrl: downUrl(await closedPort()) }, async () => {
      await fake.socketOpen();
      const { envelopeId } = fake.sendSlashCommand({ command: '/db-status', channelId: 'C0DOWN' });
      const post = await fake.waitFor(toChannel('C0DOWN'));
      const ack = fake.calls.find((c) => c.kind === 'ack' && c.method === envelopeId)!;
      expect(ack.seq).toBeLessThan(post.seq);
      expect(text(post)).toContain('Connection refused by 127.0.0.1');
      expect(text(post)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    });
  });

  it('retries chat.postMessage after a 429 with Retry-After and delivers the answer', async () => {
    await withBot({ mode: 'socket', databaseUrl: db.url }, async () => {
      await fake.socketOpen();
      fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
      fake.sendSlashCommand({ command: '/db-status', channelId: 'C0RATE' });
      const post = await fake.waitFor(toChannel('C0RATE'));
      const attempts = fake.api('chat.postMessage').filter((c) => c.body.channel === 'C0RATE');
      expect(attempts.map((c) => c.status)).toEqual([429, 200]);
      // Retry-After: 1 was honoured (a lower bound, not a speed claim).
      expect(post.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    });
  });

  it('falls back to the response_url when the bot is not in the channel', async () => {
    await withBot({ mode: 'socket', databaseUrl: db.url }, async ({ logs }) => {
      await fake.socketOpen();
      fake.notInChannel.add('C0PRIVATE');
      const { responseUrl } = fake.sendSlashCommand({ command: '/db-status', channelId: 'C0PRIVATE' });
      const id = responseUrl.split('/').at(-1)!;
      const answer = await fake.waitFor((c) => c.kind === 'response_url' && c.method === id);
      expect(answer.body.response_type).toBe('in_channel');
      expect(text(answer)).toContain('production · app');
      expect(logs()).toContain('not_in_channel');
    });
  });

  it('answers bad arguments with usage help, only to the asker and without the siren', async () => {
    await withBot({ mode: 'socket', databaseUrl: db.url }, async ({ logs }) => {
      await fake.socketOpen();
      const { responseUrl } = fake.sendSlashCommand({
        command: '/db-status',
        text: 'everything',
        channelId: 'C0ARGS',
      });
      const id = responseUrl.split('/').at(-1)!;
      const answer = await fake.waitFor((c) => c.kind === 'response_url' && c.method === id);
      expect(answer.body.response_type).toBe('ephemeral');
      const blocks = answer.body.blocks as { text?: { text: string } }[];
      expect(blocks[0]!.text!.text).toBe('⚠️ production · Unknown argument');
      expect(text(answer)).toContain('/db-status takes no argument but \\"me\\", got \\"everything\\"');
      expect(text(answer)).toContain('Usage: /db-status [me]');
      expect(text(answer)).not.toContain('🚨');
      await vi.waitFor(() => expect(logs()).toContain('command answered'));
      expect(fake.calls.filter((c) => c.kind === 'api' && c.body.channel === 'C0ARGS')).toEqual([]);
    });
  });
});

describe('Slack in HTTP mode', () => {
  const post = (url: string, body: string, headers: Record<string, string>) =>
    fetch(`${url}/slack/events`, { method: 'POST', body, headers });

  it('answers a signed /db-status: the HTTP ack comes first, then the channel message', async () => {
    await withBot({ mode: 'http', databaseUrl: downUrl(await closedPort()) }, async ({ url, bot }) => {
      expect(bot.mode).toBe('http');
      const { body } = fake.slashForm({ command: '/db-status', channelId: 'C0HTTP' });
      const res = await post(url, body, fake.sign(body));
      expect(res.status).toBe(200);
      const ack = fake.mark('http ack');
      const answer = await fake.waitFor(toChannel('C0HTTP'));
      expect(ack.seq).toBeLessThan(answer.seq);
      expect(text(answer)).toContain('Connection refused');
    });
  });

  it('serves /db-status against the real database in HTTP mode', async () => {
    await withBot({ mode: 'http', databaseUrl: db.url }, async ({ url }) => {
      const { body } = fake.slashForm({ command: '/db-status', channelId: 'C0HTTPOK' });
      expect((await post(url, body, fake.sign(body))).status).toBe(200);
      const answer = await fake.waitFor(toChannel('C0HTTPOK'));
      expect(text(answer)).toContain('auth_user: 40 rows');
    });
  });

  it('rejects a bad signature and a stale timestamp with 401, running nothing', async () => {
    await withBot({ mode: 'http', databaseUrl: db.url }, async ({ url }) => {
      const bad = fake.slashForm({ command: '/db-status', channelId: 'C0FORGED' });
      expect((await post(url, bad.body, fake.sign(bad.body, undefined, 'not-the-secret'))).status).toBe(401);
      const stale = fake.slashForm({ command: '/db-status', channelId: 'C0STALE' });
      const sixMinutesAgo = Math.floor(Date.now() / 1000) - 6 * 60;
      expect((await post(url, stale.body, fake.sign(stale.body, sixMinutesAgo))).status).toBe(401);
      const unsigned = fake.slashForm({ command: '/db-status', channelId: 'C0UNSIGNED' });
      expect(
        (await post(url, unsigned.body, { 'content-type': 'application/x-www-form-urlencoded' })).status,
      ).toBe(401);
      // A good request after them is answered; by then the rejected ones would have been too.
      const good = fake.slashForm({ command: '/db-status', channelId: 'C0AFTER' });
      expect((await post(url, good.body, fake.sign(good.body))).status).toBe(200);
      await fake.waitFor(toChannel('C0AFTER'));
      const ids = [bad, stale, unsigned].map((f) => f.responseUrl.split('/').at(-1));
      for (const c of fake.calls) {
        expect(['C0FORGED', 'C0STALE', 'C0UNSIGNED']).not.toContain(c.body.channel);
        if (c.kind === 'response_url') expect(ids).not.toContain(c.method);
      }
    });
  });
});

describe('Slack channel posts (Notifier)', () => {
  const report: Report = {
    title: 'Nightly digest',
    level: 'warn',
    summary: '⚠️ production database app: newest backup is 30 hours old',
    fields: [{ label: 'Last backup', value: '30 hours ago' }],
    sections: [],
  };

  it('posts to SLACK_CHANNEL, retrying 429 after Retry-After and 5xx with backoff', async () => {
    await withBot({ mode: 'socket', databaseUrl: db.url }, async ({ services }) => {
      const before = fake.api('chat.postMessage').length;
      fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
      fake.failNext('chat.postMessage', { status: 503, times: 2 });
      await services.notifier.post(report);
      const attempts = fake.api('chat.postMessage').slice(before);
      expect(attempts.map((c) => c.status)).toEqual([429, 503, 503, 200]);
      expect(attempts.every((c) => c.body.channel === 'C0TEAM')).toBe(true);
      expect(attempts[3]!.body.text).toBe(report.summary);
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
      expect(text(attempts[3]!)).toContain('⚠️ production · Nightly digest');
    });
  });

  it('gives up after its attempts and rejects, logging the Slack error code; never drops silently', async () => {
    await withBot(
      { mode: 'socket', databaseUrl: db.url, slack: { slackRetry: { attempts: 3, baseDelayMs: 20 } } },
      async ({ services, logs }) => {
        const before = fake.api('chat.postMessage').length;
        fake.failNext('chat.postMessage', { status: 500, times: 3 });
        const err = await services.notifier.post(report).catch((e) => e);
        expect(err).toBeInstanceOf(SlackCallFailed);
        expect(err.slackCode).toBe('http_500');
        expect(fake.api('chat.postMessage').length - before).toBe(3);
        expect(logs()).toMatch(/"slackError":"http_500".*"attempts":3/);
      },
    );
  });

  it('does not retry a platform error such as not_in_channel; rejects with a hint', async () => {
    await withBot(
      { mode: 'socket', databaseUrl: db.url, env: { SLACK_CHANNEL: 'C0LOCKED' } },
      async ({ services, logs }) => {
        fake.notInChannel.add('C0LOCKED');
        const err = await services.notifier.post(report).catch((e) => e);
        expect(err).toBeInstanceOf(SlackCallFailed);
        expect(err.message).toContain('not_in_channel');
        expect(err.hint).toContain('/invite');
        expect(fake.api('chat.postMessage').filter((c) => c.body.channel === 'C0LOCKED')).toHaveLength(1);
        expect(logs()).toContain('"slackError":"not_in_channel"');
      },
    );
  });
});

describe('npm start (dbwarden serve) with Slack credentials', () => {
  const serve = (env: Record<string, string>) => {
    const cli = cliProcess(['serve'], { LOG_LEVEL: 'info', ...env });
    const child = spawn(cli.command, cli.args, {
      cwd: cli.cwd,
      env: cli.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return { child, exited, stderr: () => stderr };
  };
  const baseEnv = () => ({
    DATABASE_URL: db.url,
    DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-serve-store-')),
    DBWARDEN_ENV: 'production',
    SLACK_API_URL: fake.apiUrl,
    SLACK_CHANNEL: 'C0TEAM',
  });

  it('runs the Slack bot in Socket Mode, answers /db-status and stops on SIGTERM', async () => {
    const connects = fake.calls.filter((c) => c.kind === 'connect').length;
    const bot = serve({ ...baseEnv(), SLACK_BOT_TOKEN: fake.botToken, SLACK_APP_TOKEN: fake.appToken });
    try {
      await fake.waitFor(
        (c) => c.kind === 'connect' && fake.calls.filter((x) => x.kind === 'connect').length > connects,
        60_000,
      );
      fake.sendSlashCommand({ command: '/db-status', channelId: 'C0SERVE' });
      const post = await fake.waitFor(toChannel('C0SERVE'), 60_000);
      expect(text(post)).toContain('auth_user: 40 rows');
      bot.child.kill('SIGTERM');
      expect(await bot.exited).toBe(0);
      expect(bot.stderr()).toContain('Slack bot running (Socket Mode)');
    } finally {
      bot.child.kill('SIGKILL');
    }
  });

  it('serves Slack HTTP mode on the shared PORT server next to /readyz, which reports the Slack link', async () => {
    const port = await closedPort();
    const bot = serve({
      ...baseEnv(),
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      PORT: String(port),
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      type Ready = { checks: { chat: { ok: boolean; detail: string } } };
      let ready: Ready | null = null;
      for (let i = 0; i < 120 && !ready?.checks.chat.ok; i++) {
        ready = await fetch(`${base}/readyz`).then(
          (r) => r.json() as Promise<Ready>,
          () => null,
        );
        if (!ready?.checks.chat.ok) await new Promise((r) => setTimeout(r, 250));
      }
      expect(ready!.checks.chat).toEqual({ ok: true, detail: 'connected: slack' });
      const { body } = fake.slashForm({ command: '/db-status', channelId: 'C0SERVEHTTP' });
      const res = await fetch(`${base}/slack/events`, { method: 'POST', body, headers: fake.sign(body) });
      expect(res.status).toBe(200);
      const post = await fake.waitFor(toChannel('C0SERVEHTTP'), 60_000);
      expect(text(post)).toContain('auth_user: 40 rows');
      const forged = await fetch(`${base}/slack/events`, {
        method: 'POST',
        body,
        headers: fake.sign(body, undefined, 'wrong-secret'),
      });
      expect(forged.status).toBe(401);
      bot.child.kill('SIGTERM');
      expect(await bot.exited).toBe(0);
    } finally {
      bot.child.kill('SIGKILL');
    }
  });

  it("refuses to start with a bad bot token, naming Slack's error and never the token", async () => {
    const wrong = ['xoxb', 'wrong', Date.now()].join('-');
    const bot = serve({ ...baseEnv(), SLACK_BOT_TOKEN: wrong, SLACK_APP_TOKEN: fake.appToken });
    try {
      expect(await bot.exited).toBe(1);
      expect(bot.stderr()).toContain('Slack auth.test failed: invalid_auth');
      expect(bot.stderr()).toContain('SLACK_BOT_TOKEN');
      expect(bot.stderr()).not.toContain(wrong);
    } finally {
      bot.child.kill('SIGKILL');
    }
  });

  it('refuses to start with a revoked app token, naming SLACK_APP_TOKEN, never "a bug", never the token', async () => {
    const wrong = ['xapp', '1', 'revoked', Date.now()].join('-');
    const bot = serve({ ...baseEnv(), SLACK_BOT_TOKEN: fake.botToken, SLACK_APP_TOKEN: wrong });
    try {
      expect(await bot.exited).toBe(1);
      expect(bot.stderr()).toContain('Slack apps.connections.open failed: invalid_auth');
      expect(bot.stderr()).toContain('SLACK_APP_TOKEN');
      expect(bot.stderr()).not.toContain('bug in dbwarden');
      expect(bot.stderr()).not.toContain(wrong);
    } finally {
      bot.child.kill('SIGKILL');
    }
  });
});

describe('secrets', () => {
  it('never sends a database password, token or signing secret to Slack', () => {
    expect(fake.calls.length).toBeGreaterThan(20);
    const secrets = [...passwords, fake.botToken, fake.appToken, fake.signingSecret];
    for (const raw of payloadsWithoutCredential(fake)) for (const s of secrets) expect(raw).not.toContain(s);
  });
});
