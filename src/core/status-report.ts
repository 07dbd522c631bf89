import { formatAge, formatBytes, formatCount, formatTime } from './format.js';
import { identityLabel } from './identity.js';
import { type Level, type Report, worst } from './report.js';
import type { DbStatus } from './status.js';

/** Status as a Report: the fields a tired person scans in a second, like `heroku pg:info`. */
export function statusReport(s: DbStatus, timeZone = 'UTC'): Report {
  const title = `${s.target.environment} · ${s.target.name}`;
  const footer = `checked ${formatTime(new Date(s.checkedAt), timeZone)}`;
  let level: Level = 'ok';
  for (const w of s.warnings) level = worst(level, w.level);
  const warningLines = s.warnings.map(
    (w) =>
      `${w.level === 'critical' ? '🚨' : '⚠️'} ${w.message}${w.hint ? ` → ${w.hint}` : ''}${w.since ? ` [${w.code}] — open since ${formatTime(new Date(w.since), timeZone)}` : ''}`,
  );

  if (!s.reachable) {
    // The summary already says unreachable; the guard's other open warnings still need saying.
    const others = warningLines.filter((_, i) => s.warnings[i]!.code !== 'unreachable');
    // A query timeout is a server that answered slowly, not one that cannot be reached.
    const slow = s.error?.code === 'timeout';
    const reason = s.error?.message ?? 'unknown reason';
    return {
      title,
      level: 'critical',
      summary: `🚨 ${s.target.environment} database ${s.target.name} ${slow ? 'is not answering in time' : 'is unreachable'}: ${reason}`,
      fields: [
        { label: 'Database', value: s.target.display },
        { label: 'Reachable', value: slow ? `connected, too slow: ${reason}` : `no: ${reason}` },
        ...(s.error?.hint ? [{ label: 'Hint', value: s.error.hint }] : []),
        { label: lastBackupLabel(s), value: lastBackupText(s) },
      ],
      sections: others.length > 0 ? [{ title: 'Warnings', lines: others, muted: true }] : [],
      footer,
    };
  }

  const watched = s.tables.filter((t) => t.watched);
  const fields = [
    { label: 'Database', value: s.target.display },
    { label: 'Identity', value: s.identity ? identityLabel(s.identity) : 'unknown' },
    { label: 'Reachable', value: 'yes' },
    { label: 'Version', value: `PostgreSQL ${s.serverVersion}` },
    { label: 'Size', value: formatBytes(s.sizeBytes ?? 0) },
    { label: 'Tables', value: formatCount(s.tableCount ?? 0) },
    { label: 'Migrations', value: migrationsText(s) },
    { label: lastBackupLabel(s), value: lastBackupText(s) },
  ];
  const sections = [];
  // Counts the last watch round took say so, with their age; any it lacked were counted now and say that.
  const fromWatch = s.counts?.source === 'watch' ? s.counts : null;
  if (watched.length > 0)
    sections.push({
      title: fromWatch
        ? `Watched tables (exact as of the watch ${formatAge(fromWatch.ageSeconds * 1000)})`
        : 'Watched tables',
      lines: watched.map(
        (t) =>
          `${qualified(t)}: ${formatCount(t.rows)} rows${!t.exact ? ' (estimate)' : fromWatch && !t.countedAt ? ' (counted now)' : ''}`,
      ),
    });
  if (warningLines.length > 0) sections.push({ title: 'Warnings', lines: warningLines, muted: true });
  const summary =
    level === 'ok'
      ? `✅ ${s.target.environment} database ${s.target.name}: ${formatBytes(s.sizeBytes ?? 0)}, ${s.tableCount} tables, ${lastBackupText(s)}`
      : `${level === 'critical' ? '🚨' : '⚠️'} ${s.target.environment} database ${s.target.name}: ${s.warnings[0]?.message}`;
  return { title, level, summary, fields, sections, footer };
}

function qualified(t: { schema: string; name: string }): string {
  return t.schema === 'public' ? t.name : `${t.schema}.${t.name}`;
}

function migrationsText(s: DbStatus): string {
  const m = s.migrations;
  if (!m) return 'none detected';
  const latest = m.latest ? `, latest ${m.latest}` : '';
  const failed = m.failed > 0 ? `, ${m.failed} unfinished` : '';
  return `${m.framework}: ${formatCount(m.applied)} applied${latest}${failed}`;
}

/** "Last backup", or "Last good backup" when a later attempt failed (its warning says so): never both "last". */
function lastBackupLabel(s: DbStatus): string {
  return s.lastFailedBackup ? 'Last good backup' : 'Last backup';
}

function lastBackupText(s: DbStatus): string {
  const b = s.lastBackup;
  const of = s.backupsOf;
  // Not answering: the backups shown are those of the database last seen here, and the text says so.
  const seen =
    !s.identity && of?.identity ? `the database last seen here (${identityLabel(of.identity)})` : null;
  if (!b) {
    if (s.backupsUnreadable) return `unknown: the store cannot be read (${s.backupsUnreadable})`;
    if (!of) return 'none yet';
    if (!of.identity) return 'unknown: the database does not answer and dbwarden has not seen it here before';
    const others = of.otherDatabases > 0 ? ` (${of.otherDatabases} in the store of another database)` : '';
    return seen ? `none of ${seen}${others}` : `none of this database yet${others}`;
  }
  return `${b.id} · ${formatAge(b.ageSeconds * 1000)} · ${formatBytes(b.sizeBytes)}${b.verified ? ' · verified ✓' : ' · not verified'}${b.encrypted ? ' · encrypted (age)' : ''}${seen ? ` · of ${seen}` : ''}`;
}
