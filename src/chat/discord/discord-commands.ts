import {
  type APIApplicationCommand,
  type APIApplicationCommandOption,
  ApplicationIntegrationType,
  type ChatInputCommandInteraction,
  DiscordAPIError,
  HTTPError,
  InteractionContextType,
  type REST,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  Routes,
  SlashCommandBuilder,
} from 'discord.js';
import { ConfigError, DbwardenError } from '../../core/errors.js';
import { BACKUPS_MAX, BACKUPS_SHOWN } from '../commands/db-backups.js';
import type { ChatCommand, CommandInfo } from '../commands.js';

/** A chat command as Discord sees it: its slash definition and how its options become the neutral argument string. */
export interface DiscordCommand {
  command: ChatCommand;
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  args(interaction: ChatInputCommandInteraction): string;
}

type Definition = (c: CommandInfo) => Omit<DiscordCommand, 'command'>;

/** Discord's own definitions for the commands that have options worth typing; others get a generic one. */
const DEFINITIONS: Record<string, Definition> = {
  'db-status': (c) => ({
    data: base(c)
      .addBooleanOption((o) => o.setName('me').setDescription('Answer only to me'))
      .toJSON(),
    args: (i) => (i.options.getBoolean('me') ? 'me' : ''),
  }),
  'db-backups': (c) => ({
    data: base(c)
      .addIntegerOption((o) =>
        o
          .setName('count')
          .setDescription(`How many, newest first (default ${BACKUPS_SHOWN})`)
          .setMinValue(1)
          .setMaxValue(BACKUPS_MAX),
      )
      .toJSON(),
    args: (i) => String(i.options.getInteger('count') ?? ''),
  }),
  'backup-verify': (c) => ({
    data: base(c)
      .addStringOption((o) =>
        o
          .setName('id')
          .setDescription('A backup id, its last characters, or latest (the default)')
          .setMaxLength(40),
      )
      .toJSON(),
    args: (i) => i.options.getString('id') ?? '',
  }),
  'backup-now': (c) => ({
    data: base(c).toJSON(),
    args: () => '',
  }),
};

/** Name and description; usable in the servers the bot was installed in only, never in DMs (no member, no roles). */
function base(c: CommandInfo): SlashCommandBuilder {
  return new SlashCommandBuilder()
    .setName(c.name)
    .setDescription(short(c.description))
    .setContexts(InteractionContextType.Guild)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall);
}

/** A command without its own definition: its usage becomes one optional free-text option. */
function generic(c: CommandInfo): Omit<DiscordCommand, 'command'> {
  const b = base(c);
  if (c.usage) b.addStringOption((o) => o.setName('args').setDescription(short(c.usage)));
  return { data: b.toJSON(), args: (i) => (c.usage ? (i.options.getString('args') ?? '') : '') };
}

/** Every platform-neutral command with its Discord definition. */
export function discordCommands(commands: readonly ChatCommand[]): DiscordCommand[] {
  return commands.map((command) => ({ command, ...discordDefinition(command) }));
}

/** A command's Discord definition: from its name, description and usage alone (registering needs no services). */
export function discordDefinition(c: CommandInfo): Omit<DiscordCommand, 'command'> {
  return (DEFINITIONS[c.name] ?? generic)(c);
}

export interface RegisterResult {
  scope: 'guild' | 'global';
  changed: boolean;
  names: string[];
}

/**
 * Make Discord's registered commands match ours: guild commands when a guild is given (instant), global otherwise.
 * Reads first and writes only on a difference, so restarts do not churn command versions or hit rate limits.
 */
export async function registerCommands(opts: {
  rest: REST;
  applicationId: string;
  guildId: string | null;
  commands: Pick<DiscordCommand, 'data'>[];
}): Promise<RegisterResult> {
  const route = opts.guildId
    ? Routes.applicationGuildCommands(opts.applicationId, opts.guildId)
    : Routes.applicationCommands(opts.applicationId);
  const desired = opts.commands.map((c) => c.data);
  const current = (await opts.rest.get(route)) as APIApplicationCommand[];
  const result: RegisterResult = {
    scope: opts.guildId ? 'guild' : 'global',
    changed: false,
    names: desired.map((d) => d.name),
  };
  if (canonical(current) === canonical(desired)) return result;
  await opts.rest.put(route, { body: desired });
  return { ...result, changed: true };
}

/**
 * Why Discord would not take the commands, said so it can be fixed: a refused token names DISCORD_TOKEN (never
 * its value), a refused application DISCORD_APPLICATION_ID. Anything else is passed on as it is.
 */
export function registrationFailed(err: unknown): unknown {
  if (err instanceof DbwardenError) return err;
  const status = err instanceof DiscordAPIError || err instanceof HTTPError ? err.status : null;
  if (status === 401)
    return new ConfigError([
      'DISCORD_TOKEN: Discord refused the token (401 Unauthorized); reset it in the Developer Portal (Bot → Reset Token) and update the environment',
    ]);
  if (status === 403 || status === 404)
    return new DbwardenError(
      'discord-call-failed',
      `Discord refused to register the commands: ${(err as Error).message} (HTTP ${status})`,
      'Check that DISCORD_APPLICATION_ID is this bot’s application ID, and that the bot was invited with the applications.commands scope (to the DISCORD_GUILD_ID server, when set).',
    );
  if ((status !== null && status >= 500) || networkFailure(err))
    return new DbwardenError(
      'discord-call-failed',
      `Discord could not be reached or failed: ${(err as Error).message}`,
      'Check the network (outbound HTTPS to discord.com, or DISCORD_API_URL) and discordstatus.com; try again later.',
    );
  return err;
}

/** A Node network error (refused, DNS, reset, timeout) anywhere in the cause chain. */
function networkFailure(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; name?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 5;
    i++
  ) {
    if (e.name === 'AbortError' || e.name === 'TimeoutError') return true;
    if (
      typeof e.code === 'string' &&
      /^(E(CONN|NOTFOUND|AI_AGAIN|TIMEDOUT|HOSTUNREACH|NETUNREACH|PIPE))|^UND_ERR/.test(e.code)
    )
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

type Comparable = Pick<APIApplicationCommand, 'name' | 'description'> & {
  type?: number;
  options?: APIApplicationCommandOption[];
  contexts?: number[] | null;
  integration_types?: number[];
};

/** The parts of a command definition we own, in a stable order; Discord adds ids and defaults we ignore. */
function canonical(list: Comparable[]): string {
  return JSON.stringify(
    list
      .map((c) => ({
        name: c.name,
        description: c.description,
        type: c.type ?? 1,
        options: opts(c.options),
        contexts: [...(c.contexts ?? [])].sort(),
        integrationTypes: [...(c.integration_types ?? [])].sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
}

function opts(list: APIApplicationCommandOption[] | undefined): unknown[] {
  return (list ?? []).map((o) => {
    const x = o as APIApplicationCommandOption & {
      options?: APIApplicationCommandOption[];
      choices?: unknown[];
    };
    return {
      type: x.type,
      name: x.name,
      description: x.description,
      required: Boolean(x.required),
      options: opts(x.options),
      choices: x.choices ?? [],
    };
  });
}

/** Discord caps command and option descriptions at 100 characters. */
function short(s: string): string {
  const t = s.trim() || 'dbwarden';
  return t.length <= 100 ? t : `${t.slice(0, 99)}…`;
}
