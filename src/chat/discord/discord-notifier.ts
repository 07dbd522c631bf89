import { setTimeout as sleep } from 'node:timers/promises';
import { type APIMessage, DiscordAPIError, type REST, Routes } from 'discord.js';
import { DbwardenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Notifier } from '../../core/notifier.js';
import type { Report } from '../../core/report.js';
import type { Redactor } from '../../core/secrets.js';
import { type DiscordMessage, renderDiscordMessage } from './render-discord.js';

export interface DiscordNotifierOptions {
  /** REST only: posts go out while the gateway is down. */
  rest: REST;
  channelId: string;
  environment: string;
  logger: Logger;
  clock?: () => Date;
  /**
   * Waits between whole attempts after 5xx or network failures. @discordjs/rest already waits out every 429
   * and retries a 5xx a few times at once; these cover an outage longer than that.
   */
  retryDelaysMs?: number[];
  /** Applied to every outgoing text: a secret that slipped into a report never reaches Discord. */
  redact?: Redactor;
}

/** The team channel on Discord as a Notifier: embeds over REST, retried, and every failure logged and rejected. */
export function createDiscordNotifier(opts: DiscordNotifierOptions): Notifier {
  const clock = opts.clock ?? (() => new Date());
  return {
    name: 'discord',
    async post(report: Report) {
      const safe = redactReport(report, opts.redact);
      const message = renderDiscordMessage(safe, { environment: opts.environment, now: clock() });
      await postToChannel(opts, message, report.title);
    },
  };
}

/** Replace the content of a message the bot posted (a late command answer moving on). */
export async function editChannelMessage(
  rest: REST,
  channelId: string,
  messageId: string,
  message: DiscordMessage,
): Promise<void> {
  await rest.patch(Routes.channelMessage(channelId, messageId), {
    body: { ...message, allowed_mentions: { parse: [] } },
  });
}

/** Post one message to a channel, retrying what may succeed later; rejects with a readable error otherwise. */
export async function postToChannel(
  opts: Pick<DiscordNotifierOptions, 'rest' | 'channelId' | 'logger' | 'retryDelaysMs'>,
  message: DiscordMessage,
  what: string,
): Promise<string> {
  const delays = opts.retryDelaysMs ?? [2_000, 10_000, 30_000];
  const body = { ...message, allowed_mentions: { parse: [] } };
  for (let attempt = 0; ; attempt++) {
    try {
      const posted = (await opts.rest.post(Routes.channelMessages(opts.channelId), {
        // Reports never ping anyone (allowed_mentions), whatever a table or branch happens to be called.
        body,
      })) as APIMessage;
      opts.logger.info({ channel: opts.channelId, what, attempt: attempt + 1 }, 'discord: posted to channel');
      return posted.id;
    } catch (err) {
      const retryable = !(err instanceof DiscordAPIError) || err.status >= 500;
      const reason = err instanceof Error ? err.message : String(err);
      if (retryable && attempt < delays.length) {
        opts.logger.warn(
          { channel: opts.channelId, what, attempt: attempt + 1, err: reason },
          'discord: post failed, retrying',
        );
        await sleep(delays[attempt]);
        continue;
      }
      opts.logger.error(
        { channel: opts.channelId, what, attempts: attempt + 1, err: reason },
        'discord: post failed',
      );
      throw new DbwardenError(
        'discord-post-failed',
        `Discord did not take the message: ${reason}`,
        hintFor(err),
      );
    }
  }
}

function hintFor(err: unknown): string {
  if (err instanceof DiscordAPIError) {
    if (err.code === 10003) return 'DISCORD_CHANNEL_ID names no channel the bot can see.';
    if (err.code === 50001 || err.code === 50013)
      return 'Give the bot View Channel, Send Messages and Embed Links in that channel.';
    if (err.status === 401)
      return 'DISCORD_TOKEN was refused: reset the bot token and update the environment.';
  }
  return 'Discord or the network is failing; the message will be in the logs, try again later.';
}

/**
 * The report with every string passed through the redactor, before rendering: escaping for Discord's markdown
 * would otherwise change a secret's text so the redactor no longer recognises it. JSON-safe: it writes "***".
 */
export function redactReport(report: Report, redact: Redactor | undefined): Report {
  return redact ? (JSON.parse(redact(JSON.stringify(report))) as Report) : report;
}
