import type { Report } from '../core/report.js';
import type { CommandReply } from './commands.js';

/**
 * Coalesce a command's message edits to the platform's rate limit: at most one edit per `minIntervalMs`,
 * the newest report wins, and the final report is always delivered (in order, after any edit in flight).
 */
export function throttledReply(
  reply: CommandReply,
  minIntervalMs: number,
  clock: () => number = Date.now,
): CommandReply & { flush(): Promise<void> } {
  let lastSent = Number.NEGATIVE_INFINITY;
  let pending: Report | null = null;
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<void> = Promise.resolve();

  const send = (report: Report) => {
    lastSent = clock();
    chain = chain.then(() => reply.update(report));
    return chain;
  };
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending) {
      const r = pending;
      pending = null;
      return send(r);
    }
    return chain;
  };
  return {
    update(report) {
      pending = report;
      const wait = lastSent + minIntervalMs - clock();
      if (wait <= 0) return flush();
      // Progress in between is dropped on purpose: only the newest state is worth an API call.
      if (!timer) timer = setTimeout(() => void flush().catch(() => {}), wait);
      return Promise.resolve();
    },
    flush,
  };
}
