import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type SlackBot, type SlackOptions, startSlack } from '../../src/chat/slack.js';
import { createHttpServer, type HttpServer } from '../../src/http.js';
import { buildServices, type Services } from '../../src/main.js';
import type { FakeSlack } from './fake-slack.js';

export interface RunningBot {
  services: Services;
  bot: SlackBot;
  http: HttpServer;
  /** Base URL of the bot's HTTP server (HTTP mode). */
  url: string;
  /** Everything the bot logged. */
  logs(): string;
  stop(): Promise<void>;
}

/** The bot's real composition (buildServices + startSlack) against a fake Slack, in Socket Mode or HTTP mode. */
export async function startBot(
  fake: FakeSlack,
  opts: {
    mode: 'socket' | 'http';
    databaseUrl: string;
    env?: Record<string, string>;
    slack?: Partial<Pick<SlackOptions, 'editIntervalMs' | 'retry'>>;
  },
): Promise<RunningBot> {
  let logText = '';
  const logStream = new PassThrough();
  logStream.on('data', (d) => (logText += d));
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: opts.databaseUrl,
    DBWARDEN_ENV: 'production',
    DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-slack-store-')),
    DBWARDEN_CONNECT_TIMEOUT: '3s',
    SLACK_BOT_TOKEN: fake.botToken,
    SLACK_API_URL: fake.apiUrl,
    SLACK_CHANNEL: 'C0TEAM',
    LOG_LEVEL: 'info',
    ...(opts.mode === 'socket'
      ? { SLACK_APP_TOKEN: fake.appToken }
      : { SLACK_SIGNING_SECRET: fake.signingSecret }),
    ...opts.env,
  };
  const services = await buildServices({ env, logDestination: logStream });
  const http = createHttpServer({ logger: services.logger });
  const bot = await startSlack({
    config: services.config,
    commands: services.commands,
    logger: services.logger,
    http,
    redact: services.target.redact,
    editIntervalMs: 200,
    retry: { baseDelayMs: 50 },
    ...opts.slack,
  });
  const port = opts.mode === 'http' ? await http.listen(0, '127.0.0.1') : 0;
  return {
    services,
    bot,
    http,
    url: `http://127.0.0.1:${port}`,
    logs: () => logText,
    async stop() {
      await bot.stop();
      await http.close();
      await services.close();
    },
  };
}
