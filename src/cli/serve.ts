import { runConsoleChat } from '../chat/console.js';
import { type SlackBot, startSlack } from '../chat/slack.js';
import { createHttpServer } from '../http.js';
import { buildServices } from '../main.js';
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
    const useConsole = values.console || process.stdin.isTTY || chats === 0;
    // Slack: Socket Mode, or HTTP mode on the shared HTTP server (POST /slack/events on PORT).
    const http = createHttpServer({ logger });
    let slack: SlackBot | null = null;
    try {
      if (config.slack)
        slack = await startSlack({
          config,
          commands: services.commands,
          logger,
          http,
          redact: services.target.redact,
        });
      if (slack?.mode === 'http') {
        const port = await http.listen(config.port ?? 3000);
        logger.info({ port }, 'HTTP server listening; Slack request URL path /slack/events');
      }
      if (useConsole) {
        await runConsoleChat({ commands: services.commands, output: stdout });
      }
      if (!useConsole && slack) await untilShutdownSignal();
      return EXIT.ok;
    } finally {
      await slack?.stop();
      await http.close();
      await services.close();
      services.demo?.stop();
    }
  },
};

/** Resolve on SIGTERM or SIGINT (platforms stop containers with SIGTERM). */
function untilShutdownSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}
