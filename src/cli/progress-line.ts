import { backupProgressReport } from '../backup/backup-report.js';
import type { BackupProgress } from '../backup/service.js';
import { progressBar } from '../core/report.js';

/** A one-line progress display redrawn in place, only when the stream is a terminal. */
export function progressLine(stream: NodeJS.WritableStream, target: string) {
  const tty = Boolean((stream as { isTTY?: boolean }).isTTY);
  let drawn = false;
  return {
    update(p: BackupProgress) {
      if (!tty) return;
      const r = backupProgressReport(target, p);
      stream.write(`\r\x1b[K${progressBar(r.progress?.fraction ?? null)}  ${r.progress?.label ?? ''}`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
