import type { BackupService } from './service.js';

/** A BackupService whose every run also stops when `signal` aborts (shutdown past its grace). */
export function abortableBackups(backups: BackupService, signal: AbortSignal): BackupService {
  return {
    run: (req) =>
      backups.run({ ...req, signal: req.signal ? AbortSignal.any([req.signal, signal]) : signal }),
    running: () => backups.running(),
    list: () => backups.list(),
    latestGood: () => backups.latestGood(),
  };
}
