import { runConsoleChat } from '../chat/console.js';
import { type DiscordBot, startDiscord } from '../chat/discord.js';
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
    let discord: DiscordBot | null = null;
    try {
      // Discord: on when DISCORD_TOKEN (and DISCORD_APPLICATION_ID) are set.
      if (config.discord) discord = await startDiscord({ config, commands: services.commands, logger });
      if (discord?.notifier) services.notifiers.push(discord.notifier);
      if (useConsole) {
        await runConsoleChat({ commands: services.commands, output: stdout });
      } else if (discord) {
        await untilSignal();
      }
      return EXIT.ok;
    } finally {
      await discord?.stop();
      await services.close();
      services.demo?.stop();
    }
  },
};

/** Resolves on SIGINT or SIGTERM: the bot runs until the platform stops it. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}
