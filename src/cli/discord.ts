import { echo } from '../core/echo.js';
import { ConfigError, UsageError } from '../core/errors.js';
import { EXIT, type Verb } from './verb.js';

export const discordVerb: Verb = {
  name: 'discord',
  summary: 'Discord housekeeping: register the slash commands now',
  usage: 'dbwarden discord register',
  help: [
    'register   put /db-status and friends on Discord (guild commands with DISCORD_GUILD_ID, global otherwise);',
    '           nothing is written when Discord already has the same definitions. `serve` does this on start too.',
  ],
  options: {},
  positionals: [1, 1],
  async run({ positionals, stdout, env }) {
    if (positionals[0] !== 'register')
      throw new UsageError(
        `unknown discord action "${echo(positionals[0] ?? '', 40)}"`,
        'Usage: dbwarden discord register',
      );
    // Registering needs the Discord settings and the commands' names and descriptions: no database, no services
    // (without DATABASE_URL they would start the demo database).
    const { loadConfig } = await import('../core/config.js');
    const d = loadConfig(env).discord;
    if (!d)
      throw new ConfigError([
        'DISCORD_TOKEN: needed to register Discord commands (with DISCORD_APPLICATION_ID)',
      ]);
    // discord.js is loaded only by the verb that talks to Discord.
    const [{ REST }, { discordDefinition, registerCommands, registrationFailed }, { COMMAND_INFOS }] =
      await Promise.all([
        import('discord.js'),
        import('../chat/discord/discord-commands.js'),
        import('../chat/command-list.js'),
      ]);
    const rest = new REST(d.apiUrl ? { api: d.apiUrl } : {}).setToken(d.token);
    const r = await registerCommands({
      rest,
      applicationId: d.applicationId,
      guildId: d.guildId,
      commands: COMMAND_INFOS.map(discordDefinition),
    }).catch((err: unknown) => {
      throw registrationFailed(err);
    });
    const where = r.scope === 'guild' ? `in guild ${d.guildId}` : 'globally (may take up to an hour to show)';
    const list = r.names.map((n) => `/${n}`).join(', ');
    stdout.write(`${r.changed ? 'Registered' : 'Already up to date:'} ${list} ${where}\n`);
    return EXIT.ok;
  },
};
