import { REST } from 'discord.js';
import type { Config } from '../config.js';
import type { Notifier } from '../core/notifier.js';
import type { Logger } from '../log.js';
import { createDiscordNotifier } from './discord-notifier.js';
import { slackWebClient } from './slack-api.js';
import { slackNotifier } from './slack-notifier.js';

/**
 * Channel notifiers for one-shot commands (preflight): plain Web API / REST posts, no bot connection. Retries are
 * brief: a deploy is waiting, and a channel that stays down is reported rather than waited for.
 */
export function directNotifiers(config: Config, logger: Logger, redact: (s: string) => string): Notifier[] {
  const out: Notifier[] = [];
  if (config.slack?.channel)
    out.push(
      slackNotifier({
        client: slackWebClient(config.slack.botToken, config.slack.apiUrl, logger),
        channel: config.slack.channel,
        logger,
        environment: config.environment,
        redact,
        policy: { attempts: 2, baseDelayMs: 500, maxRetryAfterMs: 5000 },
      }),
    );
  if (config.discord?.channelId) {
    const d = config.discord;
    out.push(
      createDiscordNotifier({
        rest: new REST(d.apiUrl ? { api: d.apiUrl } : {}).setToken(d.token),
        channelId: d.channelId!,
        environment: config.environment,
        logger,
        redact,
        retryDelaysMs: [500],
      }),
    );
  }
  return out;
}
