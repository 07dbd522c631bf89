import { formatAge, formatBytes, formatCount, formatTime } from '../core/format.js';
import type { DbIdentity } from '../core/identity.js';
import type { Report } from '../core/report.js';
import { goodBackupsOf, resolveBackupRef, type UnreadableManifest } from '../store/catalog.js';
import type { BackupManifest } from '../store/manifest.js';
import { startedBy, storeLabel } from './backup-report.js';

/** What `/db-backups` shows: the store's manifests (newest first) and whose backups count as this database's. */
export interface BackupList {
  manifests: BackupManifest[];
  unreadable: UnreadableManifest[];
  /** The guarded database (catalog `whose`); null when unknown: then no backup is marked as its own. */
  identity: DbIdentity | null;
  location: string;
}

/**
 * The shortest ref a person can type for a backup: the first 4, 5 or 6 characters of its random suffix, the first
 * that the catalog's own resolver (resolveBackupRef) maps back to this id alone; else the whole id.
 */
export function shortRef(id: string, ids: readonly string[]): string {
  const suffix = id.slice(id.lastIndexOf('-') + 1);
  for (let n = 4; n <= suffix.length; n++) {
    const ref = suffix.slice(0, n);
    try {
      if (resolveBackupRef(ref, ids, null, { location: '', identityKnown: false }) === id) return ref;
    } catch {
      // ambiguous at this length: try a longer one
    }
  }
  return id;
}

/** One backup as a line a person scans: short id, state, size, encryption, age, drill, who started it. */
function backupLine(m: BackupManifest, ref: string, ctx: { now: Date; mine: Set<string> }): string {
  const age = formatAge(ctx.now.getTime() - Date.parse(m.finishedAt));
  const who = `by ${startedBy(m.requestedBy)}`;
  const other = m.identity && !ctx.mine.has(m.id) && m.status === 'complete' ? ' · another database' : '';
  if (m.status !== 'complete')
    return `\`${ref}\` ✗ FAILED · ${age} · ${who} — ${(m.error?.message ?? 'no reason recorded').split('\n')[0]}`;
  const state = m.verified ? '✓ verified' : '✗ NOT verified';
  const drill = m.drill
    ? m.drill.ok
      ? ` · drill ok ${m.drill.at.slice(0, 10)}`
      : ` · drill FAILED ${m.drill.at.slice(0, 10)}`
    : ' · never drilled';
  const sealed = m.encrypted ? ' · encrypted (age)' : '';
  return `\`${ref}\` ${state} · ${formatBytes(m.sizeBytes)}${sealed} · ${age}${drill} · ${who}${other}`;
}

/** `/db-backups`: the newest `limit` backups, what the store keeps in total, and how to name one. */
export function backupListReport(
  list: BackupList,
  opts: { target: string; limit: number; now: Date; timezone: string },
): Report {
  const { manifests, unreadable } = list;
  const total = manifests.length + unreadable.length;
  if (total === 0)
    return {
      title: `Backups of ${opts.target}`,
      level: 'warn',
      summary: `No backups of ${opts.target} yet.`,
      fields: [],
      sections: [
        {
          lead: [`No backups in ${storeLabel(list.location)} yet.`],
          lines: [],
          tail: ['→ Take one with /backup-now.'],
        },
      ],
    };
  const good = goodBackupsOf(manifests, list.identity);
  const mine = new Set(good.map((m) => m.id));
  const failed = manifests.filter((m) => m.status !== 'complete').length;
  const bytes = manifests.filter((m) => m.status === 'complete').reduce((n, m) => n + m.sizeBytes, 0);
  const ids = [...manifests, ...unreadable].map((m) => m.id);
  const rows = [
    ...manifests.map((m) => ({
      id: m.id,
      line: (ref: string) => backupLine(m, ref, { now: opts.now, mine }),
    })),
    ...unreadable.map((u) => ({
      id: u.id,
      line: (ref: string) => `\`${ref}\` ✗ UNREADABLE manifest — ${u.reason}`,
    })),
  ].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const shown = rows.slice(0, opts.limit);
  const newest = good[0];
  return {
    title: `Backups of ${opts.target}`,
    level: newest ? 'ok' : 'warn',
    summary: `${formatCount(total)} backup${total === 1 ? '' : 's'} of ${opts.target} kept${newest ? `; newest good ${formatAge(opts.now.getTime() - Date.parse(newest.finishedAt))}` : '; none good'}`,
    fields: [
      {
        label: 'Kept',
        value: `${formatCount(total)} (${formatCount(good.length)} good${failed ? `, ${formatCount(failed)} failed` : ''}${unreadable.length ? `, ${formatCount(unreadable.length)} unreadable` : ''}) · ${formatBytes(bytes)}`,
      },
      {
        label: 'Newest good',
        value: newest
          ? `${shortRef(newest.id, ids)} · ${formatTime(new Date(newest.finishedAt), opts.timezone)}`
          : 'none',
      },
    ],
    sections: [
      {
        ...(shown.length < total ? { title: `Newest ${shown.length} of ${formatCount(total)}` } : {}),
        lines: shown.map((r) => r.line(shortRef(r.id, ids))),
        tail: ['→ Name a backup by its short id or `latest`, e.g. /backup-verify latest (a restore drill).'],
      },
    ],
    footer: `stored in ${storeLabel(list.location)}`,
  };
}
