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
        // One channel: its own error (with its hint); several: say that none took it.
        throw failed.length === 1 ? failed[0] : new Error('no channel accepted the message');
    },
  };
}
