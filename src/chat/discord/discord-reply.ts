import { type ChatInputCommandInteraction, DiscordAPIError, type REST } from 'discord.js';
import type { Logger } from '../../core/log.js';
import type { Report } from '../../core/report.js';
import type { Redactor } from '../../core/secrets.js';
import type { CommandReply } from '../commands.js';
import { editChannelMessage, postToChannel, redactReport } from './discord-notifier.js';
import { renderComponents, renderDiscord, renderDiscordMessage } from './render-discord.js';

/** An interaction token works for 15 minutes; edits after this go to the channel as a new message. */
export const TOKEN_LIFE_MS = 14.5 * 60_000;

export interface DiscordReplyOptions {
  interaction: ChatInputCommandInteraction;
  commandName: string;
  ephemeral: boolean;
  /** When the interaction arrived (clock ms): the token's life counts from here. */
  startedAt: number;
  clock: () => number;
  rest: REST;
  /** DISCORD_CHANNEL_ID: where a late answer goes when the interaction has no channel. */
  fallbackChannelId: string | null;
  environment: string;
  redact: Redactor;
  logger: Logger;
  retryDelaysMs?: number[];
}

/**
 * The deferred reply of one interaction, edited in place while its token lives; after that, one channel message
 * carries the answer and is edited from then on (a private answer is never moved into the channel).
 */
export function discordReply(o: DiscordReplyOptions): CommandReply {
  let late: { channelId: string; messageId: string } | null = null;
  return {
    async update(unsafe: Report) {
      const report = redactReport(unsafe, o.redact);
      const now = new Date(o.clock());
      if (o.clock() - o.startedAt < TOKEN_LIFE_MS) {
        try {
          await o.interaction.editReply({
            content: '',
            embeds: renderDiscord(report, { environment: o.environment, now }),
            components: renderComponents(report.actions ?? []),
          });
          return;
        } catch (err) {
          if (!tokenGone(err)) {
            o.logger.error({ err: describe(err) }, 'discord: editing the reply failed');
            return;
          }
        }
      }
      if (o.ephemeral) {
        o.logger.warn('discord: interaction expired, a private answer was not delivered');
        return;
      }
      const channelId = o.interaction.channelId ?? o.fallbackChannelId;
      if (!channelId) {
        o.logger.error('discord: interaction expired and no channel to post the answer to');
        return;
      }
      const message = renderDiscordMessage(
        { ...report, summary: `/${o.commandName}: ${report.summary}` },
        { environment: o.environment, now },
      );
      try {
        // One message in the channel, edited from then on: progress must not become a stream of posts.
        if (late) await editChannelMessage(o.rest, late.channelId, late.messageId, message);
        else
          late = {
            channelId,
            messageId: await postToChannel(
              {
                rest: o.rest,
                channelId,
                logger: o.logger,
                ...(o.retryDelaysMs ? { retryDelaysMs: o.retryDelaysMs } : {}),
              },
              message,
              report.title,
            ),
          };
      } catch (err) {
        o.logger.error({ err: describe(err) }, 'discord: posting the late answer failed');
      }
    },
  };
}

/** Discord says the interaction token is no longer valid (expired or unknown). */
function tokenGone(err: unknown): boolean {
  return err instanceof DiscordAPIError && (err.code === 50027 || err.code === 10015 || err.code === 10062);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
