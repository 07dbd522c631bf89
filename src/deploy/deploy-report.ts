import { identityLabel } from '../core/identity.js';
import type { Level, Report, ReportSection } from '../core/report.js';
import { worst } from '../core/report.js';
import type { DbStatus } from '../core/status.js';
import type { BaselineDiff } from './baseline.js';
import type { DeployEvent } from './webhooks.js';

const fmt = (n: number) => n.toLocaleString('en-US');

function deployName(e: DeployEvent): string {
  const version = e.version ? (/^[0-9a-f]{40}$/.test(e.version) ? e.version.slice(0, 7) : e.version) : null;
  return [e.service ?? 'app', version].filter(Boolean).join(' @ ');
}

/** The deploy report: version, migrations since, schema changes, watched rows and — 🚨 — anything that vanished. */
export function deployReport(event: DeployEvent, now: DbStatus, diff: BaselineDiff | null): Report {
  const name = deployName(event);
  const fields = [
    { label: 'Deploy', value: name },
    ...(event.environment ? [{ label: 'Environment', value: event.environment }] : []),
    ...(event.branch ? [{ label: 'Branch', value: event.branch }] : []),
    { label: 'Database', value: now.target.display },
  ];
  if (!now.reachable)
    return {
      title: `Deploy ${event.phase}: database unreachable`,
      level: 'critical',
      summary: `Deploy ${name} ${event.phase}, but the database does not answer: ${now.error?.message ?? 'unknown error'}`,
      fields,
      sections: [
        {
          lines: [now.error?.message ?? 'unknown error', ...(now.error?.hint ? [`→ ${now.error.hint}`] : [])],
        },
      ],
    };

  let level: Level = event.phase === 'failed' ? 'warn' : 'ok';
  const alarms: string[] = [];
  const sections: ReportSection[] = [];
  if (diff) {
    if (diff.replaced) {
      level = 'critical';
      alarms.push(`The database was replaced during the deploy: identity ${diff.identityChange}`);
    }
    if (diff.emptied) {
      level = 'critical';
      alarms.push('The database has no tables any more');
    }
    for (const v of diff.vanished) {
      level = 'critical';
      alarms.push(`${v.table}: ${fmt(v.before)} rows → ${fmt(v.after)}`);
    }
    if (diff.migrationsApplied !== null)
      fields.push({
        label: 'Migrations',
        value:
          diff.migrationsApplied > 0
            ? `${diff.migrationsApplied} applied since, newest ${diff.latestMigration}`
            : 'none applied',
      });
    const schema = [...diff.added.map((t) => `+ ${t}`), ...diff.removed.map((t) => `− ${t}`)];
    if (schema.length) sections.push({ title: 'Tables added / removed', lines: schema });
    const rows = diff.rowChanges
      .filter((c) => !diff.vanished.includes(c))
      .map((c) => `${c.table}: ${fmt(c.before)} → ${fmt(c.after)}`);
    if (rows.length) sections.push({ title: 'Watched rows changed', lines: rows });
    if (diff.removed.length) level = worst(level, 'warn');
  } else {
    sections.push({
      muted: true,
      lines: [
        'No earlier reading of the database to compare with: this one is remembered for the next deploy.',
      ],
    });
  }
  if (alarms.length) sections.unshift({ title: '🚨 Data vanished', lines: alarms });
  if (now.identity) fields.push({ label: 'Identity', value: identityLabel(now.identity) });
  const title =
    level === 'critical'
      ? `🚨 Deploy ${name}${event.phase === 'failed' ? ' failed' : ''}: data vanished`
      : event.phase === 'failed'
        ? `Deploy ${name} failed`
        : `Deploy ${name} ${event.phase}`;
  return {
    title,
    level,
    summary:
      level === 'critical'
        ? `Deploy ${name}: ${alarms[0]}`
        : `Deploy ${name} ${event.phase}; the database looks as before.`,
    fields,
    sections,
    footer: `checked ${now.checkedAt}`,
  };
}
