import type { BackupFailed, DbwardenError } from '../core/errors.js';
import { formatBytes, formatDuration, formatTime } from '../core/format.js';
import { errorReport, type Report } from '../core/report.js';
import type { BackupManifest } from './manifest.js';
import type { BackupProgress } from './service.js';

const PHASE: Record<BackupProgress['phase'], string> = {
  starting: 'Starting',
  dumping: 'Dumping',
  verifying: 'Verifying',
  publishing: 'Publishing',
  done: 'Done',
};

/** The fraction done and the time left, when the previous backup's size gives a basis. */
export function progressEstimate(p: BackupProgress): { fraction: number | null; etaMs: number | null } {
  if (!p.expectedBytes || p.expectedBytes <= 0) return { fraction: null, etaMs: null };
  if (p.phase === 'done') return { fraction: 1, etaMs: 0 };
  // Never claim 100% before the dump is verified: the guess may be short.
  const fraction = Math.min(0.99, p.bytes / p.expectedBytes);
  const etaMs = p.bytes > 0 && fraction < 0.99 ? (p.elapsedMs * (p.expectedBytes - p.bytes)) / p.bytes : null;
  return { fraction, etaMs };
}

/** A running backup: bar, bytes so far, elapsed and ETA. */
export function backupProgressReport(target: string, p: BackupProgress, requestedBy?: string): Report {
  const { fraction, etaMs } = progressEstimate(p);
  const label = [
    PHASE[p.phase],
    formatBytes(p.bytes),
    `${formatDuration(p.elapsedMs)} elapsed`,
    ...(etaMs !== null ? [`about ${formatDuration(etaMs)} left`] : []),
  ].join(' · ');
  return {
    title: `Backing up ${target}`,
    level: 'ok',
    summary: `Backup of ${target} running: ${formatBytes(p.bytes)} so far`,
    fields: requestedBy ? [{ label: 'Started by', value: requestedBy }] : [],
    sections: [],
    progress: { fraction, label },
  };
}

/** A finished backup: what to quote if it is ever needed. */
export function backupDoneReport(m: BackupManifest, location: string, timeZone = 'UTC'): Report {
  const rows = Object.values(m.tables).reduce((a, b) => a + b, 0);
  return {
    title: `Backup of ${m.target.name} complete`,
    level: m.verified ? 'ok' : 'warn',
    summary: `Backup ${m.id} of ${m.target.name}: ${formatBytes(m.sizeBytes)} in ${formatDuration(m.durationMs)}${m.verified ? ', verified' : ', NOT verified'}`,
    fields: [
      { label: 'Backup', value: m.id },
      { label: 'Size', value: formatBytes(m.sizeBytes) },
      { label: 'SHA-256', value: `${m.sha256.slice(0, 12)}…` },
      { label: 'Duration', value: formatDuration(m.durationMs) },
      { label: 'Verified', value: m.verified ? '✓ checksum and archive list' : '✗ not verified' },
      { label: 'Tables', value: `${Object.keys(m.tables).length} (${rows.toLocaleString('en-US')} rows)` },
      { label: 'Finished', value: formatTime(new Date(m.finishedAt), timeZone) },
    ],
    sections: [],
    footer: `${m.target.environment} · stored in ${location}`,
  };
}

/** A backup that failed or was refused: the reason and what to do. */
export function backupFailedReport(target: string, err: DbwardenError | BackupFailed): Report {
  const running = err.code === 'backup-running';
  return running
    ? { ...errorReport(`Backup of ${target} not started`, err), level: 'warn' }
    : errorReport(`Backup of ${target} failed`, err);
}
