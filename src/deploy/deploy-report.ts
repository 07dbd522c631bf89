import { identityLabel } from '../core/identity.js';
import type { Level, Report, ReportSection } from '../core/report.js';
import type { DbStatus } from '../core/status.js';
import type { Warning } from '../core/warning.js';
import { warningSection } from '../guard/warning-report.js';
import type { DeployChanges } from './baseline.js';
import type { DeployEvent } from './webhooks.js';

const fmt = (n: number) => n.toLocaleString('en-US');

function deployName(e: DeployEvent): string {
  const version = e.version ? (/^[0-9a-f]{40}$/.test(e.version) ? e.version.slice(0, 7) : e.version) : null;
  return [e.service ?? 'app', version].filter(Boolean).join(' @ ');
}

/**
 * The deploy report: version, migrations since, schema changes, watched rows and — 🚨 — the guard's data-loss
 * warnings (replaced, emptied, rows vanished, table gone) with the backup that brings the data back.
 */
export function deployReport(
  event: DeployEvent,
  now: DbStatus,
  changes: DeployChanges | null,
  dataLoss: Warning[],
  timezone = 'UTC',
): Report {
  const name = deployName(event);
  const fields = [
    { label: 'Deploy', value: name },
    ...(event.environment ? [{ label: 'Environment', value: event.environment }] : []),
    ...(event.branch ? [{ label: 'Branch', value: event.branch }] : []),
    { label: 'Database', value: now.target.display },
  ];
  if (!now.reachable)
    return {
      title: `Deploy ${name} ${event.phase}: database unreachable`,
      level: 'critical',
      summary: `Deploy ${name} ${event.phase}, but the database does not answer: ${now.error?.message ?? 'unknown error'}`,
      fields,
      sections: [
        {
          lines: [now.error?.message ?? 'unknown error', ...(now.error?.hint ? [`→ ${now.error.hint}`] : [])],
        },
      ],
    };

  const critical = dataLoss.some((w) => w.level === 'critical');
  const level: Level = critical
    ? 'critical'
    : dataLoss.length > 0 || event.phase === 'failed'
      ? 'warn'
      : 'ok';
  // The same section the guard posts (the hint and the way back never cut), under the deploy's siren title.
  const sections: ReportSection[] = dataLoss.map((w) => ({
    ...warningSection(w, timezone, false),
    title: `🚨 ${w.title}`,
  }));
  if (changes) {
    if (changes.migrationsApplied !== null)
      fields.push({
        label: 'Migrations',
        value:
          changes.migrationsApplied > 0
            ? `${changes.migrationsApplied} applied since, newest ${changes.latestMigration}`
            : 'none applied',
      });
    const schema = [...changes.added.map((t) => `+ ${t}`), ...changes.removed.map((t) => `− ${t}`)];
    if (schema.length) sections.push({ title: 'Tables added / removed', lines: schema });
    const rows = changes.rowChanges.map((c) => `${c.table}: ${fmt(c.before)} → ${fmt(c.after)}`);
    if (rows.length) sections.push({ title: 'Watched rows changed', lines: rows });
  } else {
    sections.push({
      muted: true,
      lines: ['No earlier reading of the database to compare with: this one is remembered from now on.'],
    });
  }
  if (now.identity) fields.push({ label: 'Identity', value: identityLabel(now.identity) });
  const failed = event.phase === 'failed' ? ' failed' : '';
  const title = critical
    ? `🚨 Deploy ${name}${failed}: ${dataLoss[0]!.title.toLowerCase()}`
    : event.phase === 'failed'
      ? `Deploy ${name} failed`
      : `Deploy ${name} ${event.phase}`;
  return {
    title,
    level,
    summary: critical
      ? `Deploy ${name}: ${dataLoss[0]!.message}`
      : `Deploy ${name} ${event.phase}; the data looks as before.`,
    fields,
    sections,
    footer: `checked ${now.checkedAt}`,
  };
}
