import { createRequire } from 'node:module';
import type * as NodeCron from 'node-cron';

let loaded: typeof NodeCron | null = null;

/**
 * node-cron, loaded on first use: importing it costs ~10 ms and a dozen of node's own modules, which a verb that
 * reads no cron expression (a backup, a preflight, --help) need not pay. Its CommonJS build, so that a synchronous
 * check (the configuration's) can load it; every use goes through here, so one copy is ever loaded.
 */
export function cronLib(): typeof NodeCron {
  loaded ??= createRequire(import.meta.url)('node-cron') as typeof NodeCron;
  return loaded;
}

/** The next time `expr` fires after `from`, in `timezone` (minute resolution; used for "next backup at"). */
export function nextRunAfter(expr: string, timezone: string, from: Date): Date | null {
  const task = cronLib().createTask(expr, () => {}, { timezone });
  try {
    const start = Math.floor(from.getTime() / 60_000) * 60_000 + 60_000;
    for (let t = start; t < start + 32 * 86_400_000; t += 60_000)
      if (task.match(new Date(t))) return new Date(t);
    return task.getNextRun();
  } finally {
    void task.destroy();
  }
}
