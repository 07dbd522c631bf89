import { formatAge, formatBytes, formatCount, formatDuration, formatTime } from '../core/format.js';
import { type Level, type Report, worst } from '../core/report.js';
import type { Digest } from './digest.js';

const signed = (n: number, fmt: (x: number) => string) => (n >= 0 ? `+${fmt(n)}` : `−${fmt(-n)}`);

/** The digest as one message a team reads in five seconds; loud when last night's backup failed or is missing. */
export function digestReport(d: Digest, timezone: string): Report {
  const now = new Date(d.at);
  let level: Level = 'ok';
  let backupLine: string;
  const b = d.backup;
  if (b.state === 'ok' && b.latest) {
    const drill = b.latest.drill
      ? b.latest.drill.ok
        ? ', drill ok'
        : `, drill FAILED: ${b.latest.drill.problem ?? ''}`
      : '';
    backupLine = `✅ ${b.latest.id} · ${formatBytes(b.latest.sizeBytes)} in ${formatDuration(b.latest.durationMs)} · ${b.latest.verified ? 'verified' : 'NOT verified'}${b.latest.encrypted ? ' · encrypted (age)' : ''}${drill} · ${formatAge(now.getTime() - Date.parse(b.latest.finishedAt))}`;
    if (b.latest.drill && !b.latest.drill.ok) level = 'warn';
  } else if (b.state === 'failed' && b.failure) {
    level = 'critical';
    backupLine = `🚨 FAILED ${b.failure.id}: ${b.failure.message}`;
  } else {
    level = 'critical';
    backupLine = `🚨 MISSING: no backup of this database finished in the last day${b.latest ? ` (newest good: ${b.latest.id}, ${formatAge(now.getTime() - Date.parse(b.latest.finishedAt))})` : ' and there is none of it at all'}${b.failure ? `; the last attempt (${b.failure.id}, ${formatAge(now.getTime() - Date.parse(b.failure.at))}) failed: ${b.failure.message}` : ''}`;
  }
  for (const w of d.openWarnings) level = worst(level, w.level === 'ok' ? 'ok' : w.level);

  const db = d.database;
  const growth = (nowV: number | null, then: number | null, fmt: (x: number) => string) =>
    nowV !== null && then !== null ? signed(nowV - then, fmt) : 'n/a';
  const size =
    db.sizeBytes === null
      ? 'unknown (database not answering)'
      : `${formatBytes(db.sizeBytes)} (${growth(db.sizeBytes, db.size24h, formatBytes)} in 24 h, ${growth(db.sizeBytes, db.size7d, formatBytes)} in 7 d)${db.reachable ? '' : ' — last known'}`;
  const sections: Report['sections'] = [];
  if (db.tables.length > 0)
    sections.push({
      title: 'Watched tables (rows now · 24 h · 7 d)',
      lines: db.tables.map(
        (t) =>
          `${t.table}: ${formatCount(t.rows)} · ${growth(t.rows, t.rows24h, formatCount)} · ${growth(t.rows, t.rows7d, formatCount)}`,
      ),
    });
  if (b.failure?.hint) sections.push({ title: 'Backup failure: what to do', lines: [`→ ${b.failure.hint}`] });
  sections.push({
    title: 'Open warnings',
    lines:
      d.openWarnings.length > 0
        ? d.openWarnings.map(
            (w) =>
              `${w.level === 'critical' ? '🚨' : '⚠️'} ${w.title} [${w.code}] since ${formatTime(new Date(w.since), timezone)}`,
          )
        : ['none'],
  });
  return {
    title: `Daily digest: ${d.target.name}`,
    level,
    summary: `${d.target.name}: backup ${b.state === 'ok' ? 'ok' : b.state.toUpperCase()}, ${db.sizeBytes === null ? 'size unknown' : formatBytes(db.sizeBytes)}, ${d.openWarnings.length} open warning${d.openWarnings.length === 1 ? '' : 's'}`,
    fields: [
      { label: 'Backup', value: backupLine },
      { label: 'Size', value: size },
      { label: 'Size 14 d', value: d.sparkline },
      {
        label: 'Backups kept',
        value: `${d.catalog.kept}${d.catalog.oldest ? `, oldest ${formatTime(new Date(d.catalog.oldest), timezone)}` : ''}, ${formatBytes(d.catalog.totalBytes)} in total`,
      },
      {
        label: 'Next backup',
        value: d.nextBackupAt ? formatTime(new Date(d.nextBackupAt), timezone) : 'not scheduled',
      },
    ],
    sections,
    footer: `${d.target.display} · ${d.target.environment} · ${formatTime(now, timezone)}`,
  };
}
