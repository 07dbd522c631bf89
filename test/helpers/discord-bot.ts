import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import type { ChatAdapter, ChatTuning } from '../../src/chat/adapter.js';
import type { ChatCommand } from '../../src/chat/commands.js';
import { startDiscord } from '../../src/chat/discord/discord.js';
import { createCommandRunner } from '../../src/chat/run-command.js';
import { buildServices, type Services } from '../../src/main.js';
import type { TestCluster } from './cluster.js';
import { FakeDiscord, type RecordedCall } from './fake-discord.js';
import { QUIET_SCHEDULE, serveInProcess } from './serve.js';

export const APP = '100000000000000001';
export const CHANNEL = '200000000000000001';
export const GUILD = '300000000000000001';

export interface BotHarness {
  /** The fake Discord, started before the file's tests. */
  readonly fake: FakeDiscord;
  /** The bot token, built at run time: no token-shaped literal in the repository. */
  readonly token: string;
  /** Everything the bots logged. */
  readonly logs: string;
  env(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;
  /**
   * `dbwarden serve` with Discord configured (serve/start.ts, exactly as the CLI runs it). With `extra` commands,
   * the Discord adapter alone on the production services and runner: a test of the adapter's generic dispatch.
   */
  start(opts?: {
    env?: Record<string, string | undefined>;
    extra?: ChatCommand[];
    clock?: () => number;
  }): Promise<{ bot: ChatAdapter; services: Services }>;
  stopAll(): Promise<void>;
}

/** A fake Discord and a store directory for one test file, and a way to start the real bot against them. */
export function useDiscordBot(db: TestCluster): BotHarness {
  const token = ['fake', randomBytes(12).toString('hex'), randomBytes(12).toString('hex')].join('.');
  const storeDir = mkdtempSync(join(tmpdir(), 'dbwarden-discord-'));
  const running: { stop(): Promise<void> }[] = [];
  let fake: FakeDiscord | null = null;
  let logs = '';

  const h: BotHarness = {
    get fake() {
      if (!fake) throw new Error('the fake Discord starts in beforeAll');
      return fake;
    },
    token,
    get logs() {
      return logs;
    },
    env: (extra = {}) => ({
      DATABASE_URL: db.url,
      DBWARDEN_ENV: 'production',
      DBWARDEN_STORE: storeDir,
      DISCORD_TOKEN: token,
      DISCORD_APPLICATION_ID: APP,
      DISCORD_CHANNEL_ID: CHANNEL,
      DISCORD_GUILD_ID: GUILD,
      DISCORD_API_URL: h.fake.apiUrl,
      LOG_LEVEL: 'debug',
      ...extra,
    }),
    async start(opts = {}) {
      const tuning: ChatTuning = {
        editIntervalMs: 50,
        discordPostRetryDelaysMs: [100, 200],
        discordLoginRetryMs: 200,
        ...(opts.clock ? { clock: opts.clock } : {}),
      };
      if (!opts.extra) {
        const served = await serveInProcess(h.env(opts.env), { tuning, onLog: (t) => (logs += t) });
        running.push(served);
        const bot = served.chats.find((c) => c.name === 'discord')!;
        return { bot, services: served.services };
      }
      const logDestination = new PassThrough();
      logDestination.on('data', (d) => (logs += d));
      const services = await buildServices({
        env: { ...QUIET_SCHEDULE, ...h.env(opts.env) },
        logDestination,
        chatTuning: tuning,
      });
      const bot = await startDiscord({
        config: services.config,
        environment: services.target.environment,
        commands: [...services.commands, ...opts.extra],
        runner: createCommandRunner(),
        logger: services.logger,
        redact: services.redact,
        http: null,
        tuning,
      });
      running.push({
        async stop() {
          await bot.stop();
          await services.close();
        },
      });
      return { bot, services };
    },
    async stopAll() {
      for (const r of running.splice(0)) await r.stop();
    },
  };

  beforeAll(async () => {
    fake = await new FakeDiscord({ token, applicationId: APP, heartbeatIntervalMs: 1500 }).start();
  });
  afterAll(async () => {
    await h.stopAll();
    await fake?.stop();
    rmSync(storeDir, { recursive: true, force: true });
  });
  return h;
}

/** Matches the edits of one interaction's original reply. */
export const webhookEdits = (token: string) => (c: RecordedCall) =>
  c.method === 'PATCH' && c.path === `/webhooks/${APP}/${token}/messages/@original`;
