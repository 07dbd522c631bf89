import { basename } from 'node:path';
import { shortRecipient } from '../core/age-keys.js';
import type { BackupFailed, DbwardenError } from '../core/errors.js';
import { formatAge, formatBytes, formatCount, formatDuration, formatTime } from '../core/format.js';
import { errorReport, type Report } from '../core/report.js';
import { BACKUP_FAILED_HINT, type BackupManifest } from '../store/manifest.js';
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

/** The line /db-status adds while a backup runs: who started it, when, and how far it is. */
export function runningBackupField(
  running: { requestedBy: string; startedAt: Date; progress: BackupProgress | null },
  now: Date,
): { label: string; value: string } {
  const p = running.progress;
  const where = p
    ? ` · ${PHASE[p.phase]} ${formatBytes(p.bytes)}${(() => {
        const { fraction } = progressEstimate(p);
        return fraction === null ? '' : ` (about ${Math.floor(fraction * 100)}%)`;
      })()}`
    : '';
  return {
    label: 'Backup running',
    value: `started by ${startedBy(running.requestedBy)} ${formatAge(now.getTime() - running.startedAt.getTime())}${where}`,
  };
}

/** Who started a backup, as people read it: "schedule", "slack:U123" → "the schedule", "slack:U123". */
export function startedBy(requestedBy: string): string {
  return requestedBy === 'schedule' ? 'the schedule' : requestedBy;
}

/**
 * Where a backup went, as the team may see it: an s3:// URL as it is, a directory by its name alone (the server's
 * filesystem layout is no business of the channel).
 */
export function storeLabel(location: string): string {
  if (location.startsWith('s3://')) return location;
  return `the file store ${basename(location) || location}`;
}

/**
 * A finished backup, whoever started it (schedule, chat, CLI, deploy): what to quote if it is ever needed.
 * `location` is the store's; the footer names it with storeLabel. The environment is not repeated here: every
 * renderer already shows it.
 */
export function backupDoneReport(m: BackupManifest, location: string, timeZone = 'UTC'): Report {
  const rows = Object.values(m.tables).reduce((a, b) => a + b, 0);
  return {
    title: `Backup of ${m.target.name} complete`,
    level: m.verified ? 'ok' : 'warn',
    summary: `Backup ${m.id} of ${m.target.name}: ${formatBytes(m.sizeBytes)} in ${formatDuration(m.durationMs)}${m.verified ? ', verified' : ', NOT verified'}`,
    fields: [
      { label: 'Backup', value: m.id },
      // Encrypted: the stored object's figures first (what `sha256sum` of it in the store gives), the archive's after.
      ...(m.encrypted && m.storedSha256 && m.storedSizeBytes !== undefined
        ? [
            {
              label: 'Size',
              value: `${formatBytes(m.storedSizeBytes)} stored, ${formatBytes(m.sizeBytes)} decrypted`,
            },
            {
              label: 'SHA-256',
              value: `${m.storedSha256.slice(0, 12)}… stored, ${m.sha256.slice(0, 12)}… decrypted`,
            },
          ]
        : [
            { label: 'Size', value: formatBytes(m.sizeBytes) },
            { label: 'SHA-256', value: `${m.sha256.slice(0, 12)}…` },
          ]),
      {
        label: 'Encrypted',
        value: m.encrypted
          ? `age, to ${(m.recipients ?? []).map(shortRecipient).join(', ')}`
          : 'no (DBWARDEN_AGE_RECIPIENTS unset)',
      },
      { label: 'Duration', value: formatDuration(m.durationMs) },
      { label: 'Verified', value: m.verified ? '✓ checksum and archive list' : '✗ not verified' },
      { label: 'Tables', value: `${Object.keys(m.tables).length} (${rows.toLocaleString('en-US')} rows)` },
      { label: 'Started by', value: startedBy(m.requestedBy) },
      { label: 'Finished', value: formatTime(new Date(m.finishedAt), timeZone) },
    ],
    sections: [],
    footer: `stored in ${storeLabel(location)}`,
  };
}

/**
 * A backup that failed, whoever started it: loud, with the cause and what to do. A refusal because one is
 * already running is only a warning: nothing failed.
 */
export function backupFailedReport(
  target: string,
  err: DbwardenError | BackupFailed,
  requestedBy?: string,
): Report {
  if (err.code === 'backup-running')
    return { ...errorReport(`Backup of ${target} not started`, err), level: 'warn' };
  const by = requestedBy ? ` (started by ${startedBy(requestedBy)})` : '';
  const runId = 'backupId' in err ? err.backupId : undefined;
  return {
    title: `Backup of ${target} failed`,
    level: 'critical',
    summary: `🚨 Backup of ${target} failed${by}: ${err.message}`,
    fields: requestedBy ? [{ label: 'Started by', value: startedBy(requestedBy) }] : [],
    sections: [
      {
        title: 'Backup failed [backup-failed]',
        lines: [err.message, `→ ${err.hint ?? BACKUP_FAILED_HINT}`],
      },
    ],
    // Both buttons name this failed run (its id, no secret): Show the cause shows this run's error, not a later
    // one's, and Retry now can tell that a good backup came since. A failure that was no run (cancelled) has none.
    ...(runId
      ? {
          actions: [
            { id: 'retry-backup', label: 'Retry now', style: 'primary' as const, value: runId },
            { id: 'show-cause', label: 'Show the cause', value: runId },
          ],
        }
      : {}),
  };
}

/** The cause of one failed backup (`id`, its manifest `m` when the store has it), in full, for "Show the cause". */
export function failureCauseReport(
  target: string,
  id: string,
  m: BackupManifest | null,
  timeZone = 'UTC',
): Report {
  if (!m?.error)
    return {
      title: `No record of failed backup ${id}`,
      level: 'ok',
      summary: `The failed backup ${id} of ${target} is not recorded in the store.`,
      fields: [],
      sections: [
        {
          lead: [
            `The failed backup ${id} of ${target} is not recorded in the store: retention may have removed it, or the store could not take its record when it failed.`,
          ],
          lines: [],
          tail: ['→ /db-backups lists the backups the store has, failed ones too.'],
        },
      ],
    };
  return {
    title: `Why the backup of ${target} failed`,
    level: 'warn',
    summary: `Backup ${m.id} of ${target} failed: ${m.error.message}`,
    fields: [
      { label: 'Backup', value: m.id },
      { label: 'Started by', value: startedBy(m.requestedBy) },
      { label: 'Failed', value: formatTime(new Date(m.finishedAt), timeZone) },
      { label: 'After', value: `${formatDuration(m.durationMs)}, ${formatBytes(m.sizeBytes)} written` },
      { label: 'Code', value: m.error.code },
    ],
    sections: [
      {
        lead: m.error.message.split('\n'),
        lines: [],
        tail: [`→ ${m.error.hint ?? 'Fix the cause, then press Retry now (or run /backup-now).'}`],
      },
    ],
  };
}

/** The scheduled drill found nothing to restore. */
export function drillSkippedReport(target: string): Report {
  return {
    title: `Restore drill skipped: ${target}`,
    level: 'warn',
    summary: `No good backup of ${target} to drill yet.`,
    fields: [],
    sections: [
      {
        lines: [
          `No good backup of ${target} to drill yet.`,
          '→ Take one with `dbwarden backup` (or /backup-now).',
        ],
      },
    ],
  };
}

/**
 * A restore drill that failed (the backup may not restore), or that could not run at all (no scratch database, or
 * another drill running: nothing said about the backup, so a warning that names the fix).
 */
export function drillFailedReport(target: string, backupId: string, err: DbwardenError): Report {
  // An encrypted backup without DBWARDEN_AGE_IDENTITY here is skipped on purpose (the key belongs off the server).
  const skipped = err.code === 'drill-no-identity';
  const setup =
    skipped ||
    ['drill-no-scratch', 'drill-is-target', 'age-wrong-identity', 'drill-running'].includes(err.code);
  const what = skipped ? 'skipped' : setup ? 'could not run' : 'failed';
  return {
    title: `Restore drill ${what}: ${target}`,
    level: setup ? 'warn' : 'critical',
    summary: `Restore drill of ${backupId} (${target}) ${what}: ${err.message}`,
    fields: [{ label: 'Backup', value: backupId }],
    sections: [
      {
        title: `Restore drill ${what} [backup-unverified]`,
        lead: [err.message],
        lines: [],
        tail: [
          `→ ${err.hint ?? `Run \`dbwarden verify ${backupId} --drill\` by hand and read its problem.`}`,
        ],
      },
    ],
  };
}

/**
 * A restore drill running now (asked from chat): which backup, who asked, how long so far. verifyAndRecord reports no
 * finer steps, so the label names the three checks in their order and the time they have taken.
 */
export function drillProgressReport(target: string, backupId: string, elapsedMs: number, by: string): Report {
  return {
    title: `Restore drill of ${target} running`,
    level: 'ok',
    summary: `Restore drill of backup ${backupId} (${target}) running: ${formatDuration(elapsedMs)} so far`,
    fields: [
      { label: 'Backup', value: backupId },
      { label: 'Started by', value: by },
    ],
    sections: [],
    progress: {
      fraction: null,
      label: `Checksum · archive list · restore into a scratch database and row counts · ${formatDuration(elapsedMs)} elapsed`,
    },
  };
}

/** A restore drill that proved a backup restores. */
export function drillOkReport(target: string, m: BackupManifest): Report {
  const d = m.drill;
  return {
    title: `Restore drill ok: ${target}`,
    level: 'ok',
    summary: `Backup ${m.id} of ${target} restored: ${d?.tables ?? 0} tables, ${formatCount(d?.rows ?? 0)} rows in ${formatDuration(d?.durationMs ?? 0)}`,
    fields: [
      { label: 'Backup', value: m.id },
      { label: 'Restored', value: `${d?.tables ?? 0} tables, ${formatCount(d?.rows ?? 0)} rows` },
      { label: 'Row counts', value: 'every table matches the backup’s manifest' },
      { label: 'Took', value: formatDuration(d?.durationMs ?? 0) },
    ],
    sections: [],
  };
}

/** A backup stopped because serve shut down past its grace period. */
export function backupInterruptedReport(
  target: string,
  environment: string,
  running: { requestedBy: string; startedAt: Date },
  graceMs: number,
  stopped: boolean,
): Report {
  return {
    title: `Backup of ${target} interrupted by shutdown`,
    level: 'warn',
    summary: `The backup of ${target} started by ${startedBy(running.requestedBy)} was interrupted: dbwarden was shutting down.`,
    fields: [
      { label: 'Started', value: running.startedAt.toISOString() },
      { label: 'Environment', value: environment },
    ],
    sections: [
      {
        lines: [
          `It did not finish within DBWARDEN_SHUTDOWN_GRACE (${Math.round(graceMs / 1000)} s) and was ${stopped ? 'stopped; nothing partial was kept' : 'told to stop; a partial dump is never published and is cleaned up on the next run'}.`,
          'The next scheduled backup runs as usual, or run /backup-now once dbwarden is back.',
        ],
      },
    ],
  };
}
