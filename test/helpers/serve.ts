import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { ChatTuning } from '../../src/chat/adapter.js';
import { type ServeOptions, type Serving, startServe } from '../../src/serve/start.js';

/** Crons that never fire during a test run (1 January, 00:00): the scheduler runs, but stays quiet. */
export const QUIET_SCHEDULE = {
  DBWARDEN_WATCH_CRON: '0 0 1 1 *',
  DBWARDEN_BACKUP_CRON: '0 0 1 1 *',
  DBWARDEN_DIGEST_CRON: '0 0 1 1 *',
};

export interface ServedBot extends Serving {
  /** Everything the bot logged. */
  logs(): string;
}

/**
 * `dbwarden serve` exactly as the CLI starts it (serve/start.ts), in this process: a fresh store unless the env
 * names one, quiet schedules, fast platform timings, no console chat unless asked.
 */
export async function serveInProcess(
  env: NodeJS.ProcessEnv,
  opts: {
    tuning?: ChatTuning;
    clock?: () => Date;
    onLog?: (text: string) => void;
    /** Run the console chat on these streams (as `serve --console` does). */
    chat?: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream };
  } & Pick<ServeOptions, 'consoleOutput' | 'schedule' | 'metricsRefreshMs'> = {},
): Promise<ServedBot> {
  let logText = '';
  const logDestination = new PassThrough();
  logDestination.on('data', (d) => {
    logText += d;
    opts.onLog?.(String(d));
  });
  const serving = await startServe({
    env: {
      DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-serve-store-')),
      DBWARDEN_CONNECT_TIMEOUT: '3s',
      ...QUIET_SCHEDULE,
      ...env,
    },
    logDestination,
    console: opts.chat ? { mode: 'on', ...opts.chat } : { mode: 'off' },
    consoleOutput: opts.consoleOutput ?? new PassThrough(),
    chatTuning: { editIntervalMs: 200, slackRetry: { baseDelayMs: 50 }, ...opts.tuning },
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.schedule ? { schedule: opts.schedule } : {}),
    ...(opts.metricsRefreshMs !== undefined ? { metricsRefreshMs: opts.metricsRefreshMs } : {}),
  });
  return Object.assign(serving, { logs: () => logText });
}
