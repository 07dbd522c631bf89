import {
  type ChatInputCommandInteraction,
  Client,
  DiscordAPIError,
  DiscordjsError,
  Events,
  GatewayIntentBits,
  MessageFlags,
  REST,
  Status,
} from 'discord.js';
import type { Config } from '../config.js';
import { asDbwardenError, ConfigError } from '../core/errors.js';
import type { Notifier } from '../core/notifier.js';
import { errorReport, type Report } from '../core/report.js';
import { createRedactor, type Redactor } from '../core/secrets.js';
import type { Logger } from '../log.js';
import type { ChatCommand, ChatUser, CommandReply } from './commands.js';
import { discordCommands, registerCommands } from './discord-commands.js';
import {
  createDiscordNotifier,
  editChannelMessage,
  postToChannel,
  redactReport,
} from './discord-notifier.js';
import { renderDiscord, renderDiscordMessage } from './render-discord.js';
import { throttledReply } from './throttle.js';

/** An interaction token works for 15 minutes; edits after this go to the channel as a new message. */
const TOKEN_LIFE_MS = 14.5 * 60_000;

export interface StartDiscordOptions {
  config: Config;
  commands: ChatCommand[];
  logger: Logger;
  /** Milliseconds since the epoch; tests move it to pass the interaction token's life. */
  clock?: () => number;
  /** At most one edit of a command's reply per this many ms (Discord allows ~5 per 5 s per message). */
  editIntervalMs?: number;
  /** Waits between channel post attempts after 5xx or network failures. */
  postRetryDelaysMs?: number[];
  /** First wait before logging in again when Discord cannot be reached; doubles up to 60 times this. */
  loginRetryMs?: number;
  /** Extra redaction for every outgoing text (e.g. the target's URL password); the bot token is always redacted. */
  redact?: Redactor;
}

export interface DiscordBot {
  /** Posts to DISCORD_CHANNEL_ID over REST; null when no channel is configured. */
  notifier: Notifier | null;
  /** The gateway session is up (commands arrive). Channel posts do not need it. */
  connected(): boolean;
  stop(): Promise<void>;
}

/** Log in to Discord, register the slash commands if they changed, and answer them with the neutral commands. */
export async function startDiscord(opts: StartDiscordOptions): Promise<DiscordBot> {
  const cfg = opts.config.discord;
  if (!cfg) throw new ConfigError(['DISCORD_TOKEN: needed to start the Discord bot']);
  const d = cfg;
  const clock = opts.clock ?? Date.now;
  const log = opts.logger.child({ chat: 'discord' });
  // Our own REST client: channel posts and registration do not depend on a gateway client being alive.
  const rest = new REST(d.apiUrl ? { api: d.apiUrl } : {}).setToken(d.token);
  const environment = opts.config.environment;
  const tokenRedactor = createRedactor([d.token]);
  const redact: Redactor = (s) => tokenRedactor(opts.redact ? opts.redact(s) : s);
  const retry = opts.postRetryDelaysMs ? { retryDelaysMs: opts.postRetryDelaysMs } : {};
  const specs = discordCommands(opts.commands);
  const byName = new Map(specs.map((s) => [s.data.name, s]));

  const notifier = d.channelId
    ? createDiscordNotifier({
        rest,
        channelId: d.channelId,
        environment,
        logger: log,
        redact,
        ...retry,
      })
    : null;

  async function handle(i: ChatInputCommandInteraction): Promise<void> {
    const started = clock();
    const spec = byName.get(i.commandName);
    const ctx = { command: i.commandName, user: i.user.id, interaction: i.id };
    if (!spec) {
      log.warn(ctx, 'discord: unknown command');
      await i.reply({
        content: `Unknown command /${i.commandName.slice(0, 32)}`,
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const args = spec.args(i);
    const command = spec.command as ChatCommand & { ephemeral?: (args: string) => boolean };
    const ephemeral = command.ephemeral?.(args) ?? false;
    // Acknowledge first: Discord gives 3 seconds, a status probe or a backup may take longer.
    await i.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    log.info({ ...ctx, ephemeral }, 'discord: command');

    /** The channel message that carries the answer once the interaction token has expired. */
    let late: { channelId: string; messageId: string } | null = null;
    const deliver: CommandReply = {
      async update(unsafe: Report) {
        const report = redactReport(unsafe, redact);
        const now = new Date(clock());
        if (clock() - started < TOKEN_LIFE_MS) {
          try {
            await i.editReply({ content: '', embeds: renderDiscord(report, { environment, now }) });
            return;
          } catch (err) {
            if (!tokenGone(err)) {
              log.error({ ...ctx, err: describe(err) }, 'discord: editing the reply failed');
              return;
            }
          }
        }
        if (ephemeral) {
          // A private answer must not land in the channel for everyone.
          log.warn(ctx, 'discord: interaction expired, a private answer was not delivered');
          return;
        }
        const channelId = i.channelId ?? d.channelId;
        if (!channelId) {
          log.error(ctx, 'discord: interaction expired and no channel to post the answer to');
          return;
        }
        const message = renderDiscordMessage(
          { ...report, summary: `/${command.name}: ${report.summary}` },
          { environment, now },
        );
        try {
          // One message in the channel, edited from then on: progress must not become a stream of posts.
          if (late) await editChannelMessage(rest, late.channelId, late.messageId, message);
          else
            late = {
              channelId,
              messageId: await postToChannel(
                { rest, channelId, logger: log, ...retry },
                message,
                report.title,
              ),
            };
        } catch (err) {
          log.error({ ...ctx, err: describe(err) }, 'discord: posting the late answer failed');
        }
      },
    };
    const reply = throttledReply(deliver, opts.editIntervalMs ?? 1_000, clock);
    const user: ChatUser = {
      id: i.user.id,
      name: i.user.username,
      roles: rolesOf(i.member),
      platform: 'discord',
    };
    try {
      await command.run(args, user, reply);
    } catch (err) {
      log.error({ ...ctx, err: describe(err) }, 'discord: command failed');
      await reply.update(errorReport(`/${command.name} failed`, asDbwardenError(err)));
    }
    await reply.flush();
  }

  let stopping = false;
  let client: Client | null = null;
  let loginTimer: NodeJS.Timeout | null = null;
  let registered = false;

  /** A gateway client; a fresh one per login attempt, since a failed login leaves its client destroyed. */
  function createClient(): Client {
    // Guilds is the least we can ask for: slash commands arrive as interactions whatever the intents.
    const c = new Client({ intents: [GatewayIntentBits.Guilds], rest: d.apiUrl ? { api: d.apiUrl } : {} });
    c.on(Events.InteractionCreate, (i) => {
      if (!i.isChatInputCommand()) return;
      handle(i).catch((err) =>
        log.error(
          { command: i.commandName, interaction: i.id, err: describe(err) },
          'discord: interaction failed',
        ),
      );
    });
    c.on(Events.ShardDisconnect, (e) => log.warn({ code: e.code }, 'discord: gateway closed for good'));
    c.on(Events.ShardReconnecting, () => {
      if (!stopping) log.warn('discord: gateway connection lost, reconnecting');
    });
    c.on(Events.ShardResume, () => log.info('discord: gateway session resumed'));
    c.on(Events.ShardError, (err) => log.warn({ err: describe(err) }, 'discord: gateway error'));
    c.on(Events.Error, (err) => log.error({ err: describe(err) }, 'discord: client error'));
    c.on(Events.ClientReady, (ready) => log.info({ user: ready.user.tag }, 'discord: connected'));
    return c;
  }

  async function register(): Promise<void> {
    try {
      const r = await registerCommands({
        rest,
        applicationId: d.applicationId,
        guildId: d.guildId,
        commands: specs,
      });
      registered = true;
      log.info(r, r.changed ? 'discord: commands registered' : 'discord: commands already up to date');
    } catch (err) {
      // Commands registered earlier keep working; say loudly why this time failed.
      log.error(
        { err: describe(err) },
        'discord: command registration failed (was the bot invited with the applications.commands scope?)',
      );
    }
  }

  /**
   * Log in; a refused token is fatal, anything else (Discord or the network down) is retried with backoff
   * while channel posts keep going out over REST.
   */
  async function connect(attempt: number): Promise<void> {
    const c = createClient();
    client = c;
    try {
      await c.login(d.token);
      if (!registered) await register();
    } catch (err) {
      if (stopping) return;
      if (err instanceof DiscordjsError && err.code === 'TokenInvalid')
        throw new ConfigError([
          'DISCORD_TOKEN: Discord refused the token (reset it in the developer portal)',
        ]);
      const base = opts.loginRetryMs ?? 5_000;
      const wait = Math.min(base * 2 ** attempt, 60 * base);
      log.error(
        { err: describe(err), retryInMs: wait },
        'discord: could not connect to the gateway; retrying (channel posts still go out)',
      );
      loginTimer = setTimeout(
        () =>
          void connect(attempt + 1).catch((e) => log.error({ err: describe(e) }, 'discord: login failed')),
        wait,
      );
    }
  }

  await register();
  await connect(0);

  return {
    notifier,
    connected: () => {
      const shards = client?.ws.shards;
      return Boolean(
        shards && shards.size > 0 && [...shards.values()].every((s) => s.status === Status.Ready),
      );
    },
    async stop() {
      stopping = true;
      if (loginTimer) clearTimeout(loginTimer);
      await client?.destroy();
    },
  };
}

/** Member role IDs for authorisation: a cached member has a manager, an uncached one a plain ID list. */
function rolesOf(member: ChatInputCommandInteraction['member']): string[] {
  if (!member) return [];
  const roles = member.roles as string[] | { cache: Map<string, unknown> };
  return Array.isArray(roles) ? [...roles] : [...roles.cache.keys()];
}

/** Discord says the interaction token is no longer valid (expired or unknown). */
function tokenGone(err: unknown): boolean {
  return err instanceof DiscordAPIError && (err.code === 50027 || err.code === 10015 || err.code === 10062);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
