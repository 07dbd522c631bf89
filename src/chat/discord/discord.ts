import {
  type APIMessage,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  Client,
  DiscordjsError,
  Events,
  GatewayIntentBits,
  MessageFlags,
  REST,
  Routes,
  Status,
} from 'discord.js';
import { ConfigError } from '../../core/errors.js';
import type { Report } from '../../core/report.js';
import { createRedactor, type Redactor } from '../../core/secrets.js';
import type { ChatAdapter, ChatDeps } from '../adapter.js';
import { discordCommands, registerCommands } from './discord-commands.js';
import { editChannelMessage, redactReport } from './discord-notifier.js';
import { discordReply } from './discord-reply.js';
import {
  type DiscordMessage,
  embedsWithNote,
  parseCustomId,
  renderComponents,
  renderDiscord,
} from './render-discord.js';

/** Log in to Discord, register the slash commands if they changed, and answer them with the neutral commands. */
export async function startDiscord(opts: ChatDeps): Promise<ChatAdapter> {
  const cfg = opts.config.discord;
  if (!cfg) throw new ConfigError(['DISCORD_TOKEN: needed to start the Discord bot']);
  const d = cfg;
  const clock = opts.tuning?.clock ?? Date.now;
  const log = opts.logger.child({ chat: 'discord' });
  // Our own REST client: channel posts and registration do not depend on a gateway client being alive.
  const rest = new REST(d.apiUrl ? { api: d.apiUrl } : {}).setToken(d.token);
  const environment = opts.environment;
  const tokenRedactor = createRedactor([d.token]);
  const redact: Redactor = (s) => tokenRedactor(opts.redact(s));
  const delays = opts.tuning?.discordPostRetryDelaysMs;
  const retry = delays ? { retryDelaysMs: delays } : {};
  const specs = discordCommands(opts.commands);
  const byName = new Map(specs.map((s) => [s.data.name, s]));

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
    const command = spec.command;
    // The runner says first whether the answer is private (a refusal, `/db-status me`): Discord fixes it here.
    const open = async ({ ephemeral }: { ephemeral: boolean }) => {
      // Acknowledge first: Discord gives 3 seconds, a status probe or a backup may take longer.
      await i.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
      log.info({ ...ctx, ephemeral }, 'discord: command');
      return discordReply({
        interaction: i,
        commandName: command.name,
        ephemeral,
        startedAt: started,
        clock,
        rest,
        fallbackChannelId: d.channelId,
        environment,
        redact,
        logger: log.child(ctx),
        ...retry,
      });
    };
    const user = { id: i.user.id, name: i.user.username, roles: rolesOf(i.member), platform: 'discord' };
    await opts.runner.run(command, args, user, open, {
      logger: log.child(ctx),
      editIntervalMs: opts.tuning?.editIntervalMs ?? 1_000,
      clock,
    });
  }

  /**
   * One press of one of our buttons: acknowledged at once (deferred update, type 6), then handed to the neutral
   * dispatcher. A press confirmed in the private prompt ("accept!") names the warning's message in its value.
   */
  async function pressed(i: ButtonInteraction): Promise<void> {
    const parsed = parseCustomId(i.customId);
    if (!parsed) return;
    const ctx = { action: parsed.id, user: i.user.id, interaction: i.id };
    try {
      await i.deferUpdate();
    } catch (err) {
      // Expired or already answered: the presser saw "interaction failed", so nothing is done behind their back.
      log.warn({ ...ctx, err: describe(err) }, 'discord: button press not acknowledged; nothing done');
      return;
    }
    const confirmed = parsed.id.endsWith('!');
    const [value = '', ref = ''] = confirmed ? parsed.value.split('|') : [parsed.value];
    const [channelId, messageId] = confirmed ? ref.split(':') : [i.channelId, i.message.id];
    if (!channelId || !messageId) return;
    let message: DiscordMessage = confirmed
      ? fromApi((await rest.get(Routes.channelMessage(channelId, messageId))) as APIMessage)
      : {
          content: i.message.content,
          embeds: i.message.embeds.map((e) => e.toJSON()),
          components: i.message.components.map((c) => c.toJSON()) as NonNullable<
            DiscordMessage['components']
          >,
        };
    const safe = (r: Report) =>
      renderDiscord(redactReport(r, redact), { environment, now: new Date(clock()) });
    if (!opts.actions) return;
    await opts.actions.handle(
      {
        id: confirmed ? parsed.id.slice(0, -1) : parsed.id,
        value,
        user: { id: i.user.id, name: i.user.username, roles: rolesOf(i.member), platform: 'discord' },
        pressId: i.id,
        messageKey: `${channelId}:${messageId}`,
        confirmed,
      },
      {
        async private(report) {
          await i.followUp({ embeds: safe(report), flags: MessageFlags.Ephemeral });
        },
        async note(note, close) {
          message = {
            content: message.content,
            embeds: embedsWithNote(message.embeds, redact(note.text), note.level),
            components: close ? [] : (message.components ?? []),
          };
          await editChannelMessage(rest, channelId, messageId, message);
        },
        async confirm(prompt, action) {
          const yes = {
            ...action,
            id: `${action.id}!`,
            label: action.confirm?.ok ?? action.label,
            value: `${action.value}|${channelId}:${messageId}`,
          };
          await i.followUp({
            embeds: safe(prompt),
            components: renderComponents([yes]),
            flags: MessageFlags.Ephemeral,
          });
        },
      },
    );
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
      if (i.isButton()) {
        pressed(i).catch((err) =>
          log.error({ interaction: i.id, err: describe(err) }, 'discord: button press failed'),
        );
        return;
      }
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
      const base = opts.tuning?.discordLoginRetryMs ?? 5_000;
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
    name: 'discord',
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

/** The parts of a posted message dbwarden edits: its content, embeds and buttons. */
function fromApi(m: APIMessage): DiscordMessage {
  return {
    content: m.content ?? '',
    embeds: m.embeds ?? [],
    components: (m.components ?? []) as NonNullable<DiscordMessage['components']>,
  };
}

/** Member role IDs for authorisation: a cached member has a manager, an uncached one a plain ID list. */
function rolesOf(member: ChatInputCommandInteraction['member'] | ButtonInteraction['member']): string[] {
  if (!member) return [];
  const roles = member.roles as string[] | { cache: Map<string, unknown> };
  return Array.isArray(roles) ? [...roles] : [...roles.cache.keys()];
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
