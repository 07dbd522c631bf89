import { createFileStore } from '../backup/store/file-store.js';
import { runConsoleChat } from '../chat/console.js';
import { createLogNotifier } from '../chat/log-notifier.js';
import { type SlackBot, startSlack } from '../chat/slack.js';
import { fanOut, type Notifier } from '../core/notifier.js';
import { createHttpServer, type HttpServer } from '../http.js';
import { buildServices } from '../main.js';
import type { ChatLink } from '../readiness.js';
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
    const services = await buildServices({ env, logDestination: stderr });
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
    const shutdownAbort = new AbortController();
    // Chat adapters start after the runtime (they may need its HTTP server) and join these lists.
    const notifiers: Notifier[] = [createLogNotifier(logger)];
    const chatLinks: ChatLink[] = [];
    const runtime = await startRuntime({
      services,
      store: createFileStore(config.store),
      notifier: fanOut(notifiers, (name, err) =>
        logger.error({ notifier: name, err }, 'channel post failed'),
      ),
      chats: () => chatLinks,
      backups: null,
      abortBackups: () => shutdownAbort.abort(),
      signals: true,
    });
    // Under a process manager (no terminal, a PORT to serve) stdin is not a chat: wait for a signal instead.
    const useConsole = values.console || process.stdin.isTTY || (chats === 0 && config.port === null);
    let slack: SlackBot | null = null;
    let slackHttp: HttpServer | null = null;
    try {
      // Slack: Socket Mode, or HTTP mode on the shared HTTP server (POST /slack/events on PORT, default 3000).
      if (config.slack) {
        const httpMode = !config.slack.appToken;
        if (httpMode && !runtime.http) slackHttp = createHttpServer({ logger });
        slack = await startSlack({
          config,
          commands: services.commands,
          logger,
          http: runtime.http ?? slackHttp,
          redact: services.target.redact,
        });
        if (slackHttp)
          logger.info({ port: await slackHttp.listen(3000) }, 'http listening (Slack HTTP mode)');
        chatLinks.push({ name: 'slack', connected: slack.connected });
        if (slack.notifier) notifiers.push(slack.notifier);
      }
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
      await runtime.shutdown('exit');
      await slack?.stop();
      await slackHttp?.close();
      await services.close();
      services.demo?.stop();
    }
  },
};
