import { runConsoleChat } from '../chat/console.js';
import { startDiscord } from '../chat/discord.js';
import { type SlackBot, startSlack } from '../chat/slack.js';
import { createHttpServer } from '../http.js';
import { buildServices } from '../main.js';
import { startSchedule } from '../scheduled-jobs.js';
import { startRuntime } from '../serve/runtime.js';
import { EXIT, type Verb } from './verb.js';

export const serveVerb: Verb = {
  name: 'serve',
  summary: 'Run the bot: chat commands, scheduled backups, digest and data-loss watch',
  usage: 'dbwarden serve [--console]',
  help: [
    '--console   also run the console chat when standard input is not a terminal',
    'With no DATABASE_URL it runs on a local demo database with a console chat.',
  ],
  options: { console: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    // Made first: every backup (scheduled, /backup-now, deploy) stops when shutdown outlasts its grace.
    const shutdownAbort = new AbortController();
    const services = await buildServices({
      env,
      logDestination: stderr,
      shutdownSignal: shutdownAbort.signal,
    });
    const { config, logger } = services;
    if (services.demo) {
      stderr.write(
        [
          '',
          '  dbwarden is in DEMO MODE: no DATABASE_URL is set, so it guards a local demo database',
          `  (${services.target.display}, data in ${services.demo.dir}).`,
          '  To guard your real database: set DATABASE_URL (and DBWARDEN_ENV) in the environment or .env.',
          '  To use Slack or Discord: set SLACK_BOT_TOKEN + SLACK_APP_TOKEN, or DISCORD_TOKEN + DISCORD_APPLICATION_ID.',
          '  See .env.example and README.md.',
          '',
        ].join('\n'),
      );
    }
    logger.info({ target: services.target.display, environment: config.environment }, 'dbwarden serving');
    const chats = Number(Boolean(config.slack)) + Number(Boolean(config.discord));
    // HTTP (PORT), deploy hooks and graceful shutdown on SIGTERM/SIGINT.
    const chatLinks: { name: string; connected(): boolean }[] = [];
    const runtime = await startRuntime({
      services,
      store: services.store,
      notifier: services.notifier,
      chats: () => chatLinks,
      backups: services.backups,
      abortBackups: () => shutdownAbort.abort(),
      signals: true,
    });
    // Slack: Socket Mode, or HTTP mode on the shared HTTP server (POST /slack/events on PORT).
    const ownHttp = runtime.http ? null : createHttpServer({ logger });
    let slack: SlackBot | null = null;
    // Under a process manager (no terminal, a PORT to serve) stdin is not a chat: wait for a signal instead.
    const useConsole = values.console || process.stdin.isTTY || (chats === 0 && config.port === null);
    let discord: Awaited<ReturnType<typeof startDiscord>> | null = null;
    let scheduler: Awaited<ReturnType<typeof startSchedule>> | null = null;
    try {
      // Inside the try: a chat that refuses to start (bad token) still gets an orderly shutdown.
      // Discord: slash commands over the gateway, channel posts over REST (DISCORD_TOKEN + DISCORD_APPLICATION_ID).
      discord = config.discord
        ? await startDiscord({
            config,
            commands: services.commands,
            logger,
            redact: services.redact,
          })
        : null;
      if (discord) {
        chatLinks.push({ name: 'discord', connected: discord.connected });
        if (discord.notifier) services.notifiers.push(discord.notifier);
      }
      slack = config.slack
        ? await startSlack({
            config,
            commands: services.commands,
            logger,
            http: runtime.http ?? ownHttp,
            redact: services.redact,
          })
        : null;
      if (slack) {
        chatLinks.push({ name: 'slack', connected: slack.connected });
        if (slack.notifier) services.notifiers.push(slack.notifier);
      }
      if (slack?.mode === 'http' && ownHttp) {
        const port = await ownHttp.listen(3000);
        logger.info({ port }, 'HTTP server listening; Slack request URL path /slack/events');
      }
      // Once the chats are up, so the first posts reach them. Scheduled watch, backup, digest (and drill): one runner per tick across replicas sharing the store.
      scheduler = await startSchedule(services, {
        backups: services.backups,
        signal: shutdownAbort.signal,
      });
      if (useConsole) {
        const stopped = await Promise.race([
          runConsoleChat({ commands: services.commands, output: stdout }).then(() => null),
          runtime.stopRequested,
        ]);
        // A signal ended the chat: let go of the terminal so the process can exit.
        if (stopped) process.stdin.destroy();
      } else {
        await runtime.stopRequested;
      }
      return EXIT.ok;
    } finally {
      const schedulerStopped = scheduler?.stop();
      await runtime.shutdown('exit');
      await schedulerStopped;
      await slack?.stop();
      await discord?.stop();
      await ownHttp?.close();
      await services.close();
      services.demo?.stop();
    }
  },
};
