import { backupInterruptedReport } from '../backup/backup-report.js';
import type { BackupService } from '../backup/service.js';
import type { Logger } from '../core/log.js';
import type { Notifier } from '../core/notifier.js';

export interface DrainDeps {
  backups: BackupService | null;
  graceMs: number;
  /** Abort every running backup (the signal given to abortableBackups). */
  abort: () => void;
  notifier: Notifier;
  logger: Logger;
  environment: string;
  /** The guarded database's name, for the post. */
  targetName: string;
  pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitIdle(backups: BackupService, ms: number, pollMs: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (backups.running()) {
    if (Date.now() >= until) return false;
    await sleep(Math.min(pollMs, Math.max(1, until - Date.now())));
  }
  return true;
}

/**
 * Let a running backup finish within the grace period, else abort it (the backup service then removes its
 * temporary file and publishes no manifest) and tell the channel it was interrupted.
 */
export async function drainBackups(d: DrainDeps): Promise<'idle' | 'finished' | 'aborted'> {
  const running = d.backups?.running();
  if (!d.backups || !running) return 'idle';
  const pollMs = d.pollMs ?? 200;
  d.logger.info({ requestedBy: running.requestedBy, graceMs: d.graceMs }, 'waiting for the running backup');
  if (await waitIdle(d.backups, d.graceMs, pollMs)) return 'finished';
  d.logger.warn(
    { requestedBy: running.requestedBy },
    'backup still running after the grace period: aborting it',
  );
  d.abort();
  const stopped = await waitIdle(d.backups, 15_000, pollMs);
  await d.notifier
    .post(backupInterruptedReport(d.targetName, d.environment, running, d.graceMs, stopped))
    .catch((err: unknown) => d.logger.error({ err }, 'could not post the interrupted backup'));
  return 'aborted';
}
