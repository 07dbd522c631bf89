import type { RespondFn, webApi } from '@slack/bolt';
import { asDbwardenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Report } from '../../core/report.js';
import type { Redactor } from '../../core/secrets.js';
import type { CommandReply } from '../commands.js';
import { renderSlack } from './render-slack.js';
import { SlackCallFailed, type SlackRetryPolicy, withSlackRetry } from './slack-api.js';

/** Slack errors where the bot cannot post to the channel but the command's response_url still works. */
const USE_RESPONSE_URL = new Set(['not_in_channel', 'channel_not_found', 'is_archived', 'restricted_action']);
/** response_url allows 5 messages; progress may use these, the rest is kept for the result. */
const RESPONSE_URL_PROGRESS = 3;

/**
 * A command's answer in Slack: the first Report is posted to the channel (or ephemerally via response_url), later
 * ones edit that same message. Without channel access it falls back to response_url.
 */
export function slackReply(opts: {
  client: webApi.WebClient;
  respond: RespondFn;
  channel: string;
  ephemeral: boolean;
  environment: string;
  logger: Logger;
  redact: Redactor;
  policy?: Partial<SlackRetryPolicy>;
}): CommandReply {
  let channel = opts.channel;
  let ts: string | null = null;
  let viaResponseUrl = opts.ephemeral;
  let responses = 0;
  const retry = { logger: opts.logger, ...(opts.policy ? { policy: opts.policy } : {}) };

  const update = async (report: Report): Promise<void> => {
    const rendered = renderSlack(report, { environment: opts.environment });
    const text = opts.redact(rendered.text);
    const blocks = JSON.parse(opts.redact(JSON.stringify(rendered.blocks)));
    if (viaResponseUrl) {
      if (report.progress && responses >= RESPONSE_URL_PROGRESS) return;
      await withSlackRetry(
        'response_url',
        () =>
          opts.respond({
            response_type: opts.ephemeral ? 'ephemeral' : 'in_channel',
            replace_original: responses > 0,
            text,
            blocks,
          }),
        retry,
      );
      responses++;
      return;
    }
    if (ts) {
      const at = ts;
      await withSlackRetry(
        'chat.update',
        () => opts.client.chat.update({ channel, ts: at, text, blocks }),
        retry,
      );
      return;
    }
    try {
      const posted = await withSlackRetry(
        'chat.postMessage',
        () => opts.client.chat.postMessage({ channel, text, blocks, unfurl_links: false }),
        retry,
      );
      ts = posted.ts ?? null;
      channel = posted.channel ?? channel;
    } catch (err) {
      if (!(err instanceof SlackCallFailed && USE_RESPONSE_URL.has(err.slackCode))) throw err;
      opts.logger.info(
        { slackError: err.slackCode, channel },
        'cannot post in the channel; answering via response_url',
      );
      viaResponseUrl = true;
      await update(report);
    }
  };
  return {
    async update(report) {
      try {
        await update(report);
      } catch (err) {
        // A lost progress edit is not worth failing the command (the next edit or the result follows); the
        // result itself must arrive, so its failure propagates (and is logged by the caller).
        if (!report.progress) throw err;
        opts.logger.warn({ err: asDbwardenError(err).toJSON() }, 'progress update not delivered');
      }
    },
  };
}
