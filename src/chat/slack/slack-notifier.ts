import type { webApi } from '@slack/bolt';
import type { Logger } from '../../core/log.js';
import type { Notifier } from '../../core/notifier.js';
import type { Report } from '../../core/report.js';
import { renderSlack } from './render-slack.js';
import { type SlackRetryPolicy, withSlackRetry } from './slack-api.js';

/** Posts Reports to the team channel (SLACK_CHANNEL) with chat.postMessage, retrying 429 and 5xx. */
export function slackNotifier(opts: {
  client: webApi.WebClient;
  channel: string;
  logger: Logger;
  environment?: string;
  redact?: (text: string) => string;
  policy?: Partial<SlackRetryPolicy>;
}): Notifier {
  const redact = opts.redact ?? ((s: string) => s);
  return {
    name: 'slack',
    async post(report: Report) {
      const message = renderSlack(report, opts.environment ? { environment: opts.environment } : {});
      const text = redact(message.text);
      const blocks = JSON.parse(redact(JSON.stringify(message.blocks)));
      await withSlackRetry(
        'chat.postMessage',
        () => opts.client.chat.postMessage({ channel: opts.channel, text, blocks, unfurl_links: false }),
        { logger: opts.logger, ...(opts.policy ? { policy: opts.policy } : {}) },
      );
    },
  };
}
