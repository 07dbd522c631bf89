import type { ChatTuning } from '../../src/chat/adapter.js';
import type { SlackBot } from '../../src/chat/slack/slack.js';
import type { FakeSlack } from './fake-slack.js';
import { freePort } from './net.js';
import { type ServedBot, serveInProcess } from './serve.js';

export interface RunningBot extends ServedBot {
  bot: SlackBot;
  /** Base URL of the bot's HTTP server (HTTP mode: PORT). */
  url: string;
}

/** `dbwarden serve` with Slack configured against a fake Slack, in Socket Mode or HTTP mode. */
export async function startBot(
  fake: FakeSlack,
  opts: {
    mode: 'socket' | 'http';
    databaseUrl: string;
    env?: Record<string, string>;
    slack?: Pick<ChatTuning, 'editIntervalMs' | 'slackRetry'>;
  },
): Promise<RunningBot> {
  const port = opts.mode === 'http' ? await freePort() : null;
  const served = await serveInProcess(
    {
      DATABASE_URL: opts.databaseUrl,
      DBWARDEN_ENV: 'production',
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_API_URL: fake.apiUrl,
      SLACK_CHANNEL: 'C0TEAM',
      LOG_LEVEL: 'info',
      ...(opts.mode === 'socket'
        ? { SLACK_APP_TOKEN: fake.appToken }
        : { SLACK_SIGNING_SECRET: fake.signingSecret, PORT: String(port) }),
      ...opts.env,
    },
    { tuning: { editIntervalMs: 200, slackRetry: { baseDelayMs: 50 }, ...opts.slack } },
  );
  const bot = served.chats.find((c) => c.name === 'slack') as SlackBot;
  return Object.assign(served, { bot, url: `http://127.0.0.1:${port ?? 0}` });
}
