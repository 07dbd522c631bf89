import { DbwardenError } from './errors.js';
import type { Report } from './report.js';

/**
 * Posts Reports to the team channel. The scheduler, the guard and deploy hooks use it; Slack, Discord and the
 * console implement it. `post` resolves once delivered and rejects (after its own retries) when it could not be.
 */
export interface Notifier {
  readonly name: string;
  post(report: Report): Promise<void>;
}

/** Post to every configured channel; one failing does not stop the others, but the failure is reported. */
export function fanOut(notifiers: Notifier[], onError: (name: string, err: unknown) => void): Notifier {
  return {
    name: notifiers.map((n) => n.name).join('+') || 'none',
    async post(report) {
      const results = await Promise.allSettled(notifiers.map((n) => n.post(report)));
      results.forEach((r, i) => {
        if (r.status === 'rejected') onError(notifiers[i]!.name, r.reason);
      });
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      if (results.length > 0 && failed.length === results.length)
        // One channel: its own error (with its hint); several: each one's reason and hint.
        throw failed.length === 1 ? failed[0] : noChannelTookIt(report.title, notifiers, failed);
    },
  };
}

/** Every channel refused a message: which, why, and what to do about each (an outage is not a bug). */
function noChannelTookIt(title: string, notifiers: Notifier[], failed: unknown[]): DbwardenError {
  const each = failed.map((err, i) => ({
    name: notifiers[i]!.name,
    message: err instanceof Error ? err.message : String(err),
    hint: err instanceof DbwardenError ? err.hint : undefined,
  }));
  const hints = each.filter((e) => e.hint).map((e) => `${e.name}: ${e.hint}`);
  return new DbwardenError(
    'chat-post-failed',
    `No channel took "${title}": ${each.map((e) => `${e.name}: ${e.message}`).join('; ')}`,
    hints.length > 0
      ? hints.join(' ')
      : 'Check that the chat platforms are up and the tokens valid; try again later.',
  );
}
