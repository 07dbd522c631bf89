import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { fanOut, type Notifier } from '../core/notifier.js';
import type { Redactor } from '../core/secrets.js';
import type { ChatTuning } from './adapter.js';
import { createConsoleNotifier } from './console/console-notifier.js';

/**
 * How hard a channel post tries: `patient` for serve (a warning must get through a Slack hiccup), `brief` for
 * one-shot commands such as preflight (a deploy is waiting; a channel that stays down is reported instead).
 */
export type PostPolicy = 'patient' | 'brief';

export interface ChannelDeps {
  config: Pick<Config, 'slack' | 'discord'>;
  /** Shown on every message: the configured environment, or "demo". */
  environment: string;
  logger: Logger;
  redact: Redactor;
  policy: PostPolicy;
  tuning?: ChatTuning;
  /** Where posts go when no chat channel is configured (the demo's console). */
  consoleOutput: NodeJS.WritableStream;
}

/**
 * The team channel: SLACK_CHANNEL and DISCORD_CHANNEL_ID over plain Web API / REST (no bot connection needed),
 * each SDK loaded on the first post; the console when neither is configured.
 */
export function teamChannel(deps: ChannelDeps): Notifier {
  const { config, logger, redact, environment } = deps;
  const brief = deps.policy === 'brief';
  const channels: Notifier[] = [];
  const slack = config.slack;
  if (slack?.channel) {
    const channel = slack.channel;
    channels.push(
      lazyNotifier('slack', async () => {
        const [{ slackWebClient }, { slackNotifier }] = await Promise.all([
          import('./slack/slack-api.js'),
          import('./slack/slack-notifier.js'),
        ]);
        return slackNotifier({
          client: slackWebClient(slack.botToken, slack.apiUrl, logger),
          channel,
          logger,
          environment,
          redact,
          policy: {
            ...(brief ? { attempts: 2, baseDelayMs: 500, maxRetryAfterMs: 5000 } : {}),
            ...deps.tuning?.slackRetry,
          },
        });
      }),
    );
  }
  const discord = config.discord;
  if (discord?.channelId) {
    const channelId = discord.channelId;
    channels.push(
      lazyNotifier('discord', async () => {
        const [{ REST }, { createDiscordNotifier }] = await Promise.all([
          import('discord.js'),
          import('./discord/discord-notifier.js'),
        ]);
        const delays = deps.tuning?.discordPostRetryDelaysMs ?? (brief ? [500] : undefined);
        return createDiscordNotifier({
          rest: new REST(discord.apiUrl ? { api: discord.apiUrl } : {}).setToken(discord.token),
          channelId,
          environment,
          logger,
          redact,
          ...(delays ? { retryDelaysMs: delays } : {}),
        });
      }),
    );
  }
  if (channels.length === 0) return createConsoleNotifier(deps.consoleOutput);
  return fanOut(channels, (name, err) =>
    logger.error({ channel: name, err: redact(String(err)) }, 'posting to a channel failed'),
  );
}

/** A notifier whose platform SDK is imported on the first post, so verbs that never post never load it. */
function lazyNotifier(name: string, load: () => Promise<Notifier>): Notifier {
  let loaded: Promise<Notifier> | null = null;
  return {
    name,
    async post(report) {
      loaded ??= load();
      await (await loaded).post(report);
    },
  };
}
