import type { BackupProgress, BackupService, RunningBackup } from './service.js';

/** The backup running now and where it is, whoever started it (schedule, chat, CLI, deploy). */
export interface TrackedRun extends RunningBackup {
  /** The newest progress it reported; null before the first. */
  progress: BackupProgress | null;
}

/**
 * A BackupService that remembers the running backup's latest progress, so /db-status can say how far along it is
 * whoever asked for it. The single-flight rule stays the service's: this only listens.
 */
export function progressTracked(backups: BackupService): BackupService & { current(): TrackedRun | null } {
  let progress: BackupProgress | null = null;
  return {
    async run(req) {
      try {
        return await backups.run({
          ...req,
          onProgress: (p) => {
            progress = p;
            req.onProgress?.(p);
          },
        });
      } finally {
        // A run refused because another is running must not wipe that one's progress.
        if (!backups.running()) progress = null;
      }
    },
    running: () => backups.running(),
    list: () => backups.list(),
    latestGood: () => backups.latestGood(),
    current() {
      const r = backups.running();
      return r ? { ...r, progress } : null;
    },
  };
}
