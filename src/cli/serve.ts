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
    const serving = await (await import('../serve/start.js')).startServe({
      env,
      logDestination: stderr,
      consoleOutput: stdout,
      console: { mode: values.console ? 'on' : 'auto', output: stdout },
      signals: true,
    });
    const { services } = serving;
    if (services.demo) {
      stderr.write(
        [
          '',
          '  dbwarden is in DEMO MODE: no DATABASE_URL is set, so it guards a local demo database',
          `  (${services.target.display}, data and backups in ${services.demo.dir}).`,
          '  To guard your real database: set DATABASE_URL (and DBWARDEN_ENV) in the environment or .env.',
          '  To use Slack or Discord: set SLACK_BOT_TOKEN + SLACK_APP_TOKEN, or DISCORD_TOKEN + DISCORD_APPLICATION_ID.',
          '  See .env.example and README.md.',
          '',
        ].join('\n'),
      );
    }
    try {
      await serving.stopRequested;
      return EXIT.ok;
    } finally {
      await serving.stop('exit');
    }
  },
};
