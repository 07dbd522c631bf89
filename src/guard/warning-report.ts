import { formatBytes, formatTime } from '../core/format.js';
import { type Level, type Report, type ReportSection, worst } from '../core/report.js';
import type { TargetInfo } from '../core/target.js';
import type { Warning } from '../core/warning.js';
import type { OpenWarning } from './guard.js';

export interface WarningReportContext {
  target: Pick<TargetInfo, 'name' | 'environment' | 'display'>;
  timezone: string;
  now: Date;
}

/** One warning: what happened, the details (shortened to fit), what to do and the way back (never dropped). */
export function warningSection(w: Warning, timezone: string, reminder: boolean): ReportSection {
  const tail = [`→ ${w.hint}`];
  if (w.wayBack)
    tail.push(
      `Way back: backup ${w.wayBack.backupId} taken ${formatTime(new Date(w.wayBack.takenAt), timezone)} (${formatBytes(w.wayBack.sizeBytes)}):`,
      `  ${w.wayBack.command}`,
    );
  return {
    title: `${reminder ? 'Still open: ' : ''}${w.title} [${w.code}]`,
    lead: [w.message],
    lines: w.details.map((d) => `• ${d}`),
    tail,
  };
}

/** Warning[] → one Report, worst first; `reminders` marks codes posted before and still open. */
export function warningsReport(
  warnings: Warning[],
  ctx: WarningReportContext,
  reminders: string[] = [],
): Report {
  const level = warnings.reduce<Level>((l, w) => worst(l, w.level), 'ok');
  const first = warnings[0];
  const title = !first
    ? `No warnings on ${ctx.target.name}`
    : warnings.length === 1
      ? `${first.title}: ${ctx.target.name}`
      : `${warnings.length} warnings on ${ctx.target.name}: ${first.title}`;
  return {
    title,
    level,
    summary: first ? `${first.title}: ${first.message}` : `${ctx.target.name} looks fine.`,
    fields: [
      { label: 'Database', value: ctx.target.display },
      { label: 'Environment', value: ctx.target.environment },
      { label: 'Checked', value: formatTime(ctx.now, ctx.timezone) },
    ],
    sections: warnings.map((w) => warningSection(w, ctx.timezone, reminders.includes(w.code))),
    footer: 'dbwarden guard · each warning is posted once, then daily while it stays open',
  };
}

/** Warnings that cleared (and the `recovered` event) → one calm Report. */
export function resolvedReport(cleared: OpenWarning[], events: Warning[], ctx: WarningReportContext): Report {
  const lines = cleared.map(
    (o) => `${o.title} [${o.code}] — open since ${formatTime(new Date(o.since), ctx.timezone)}, now clear`,
  );
  const sections: ReportSection[] = [{ title: 'Resolved', lines }];
  for (const e of events)
    sections.push({ title: `${e.title} [${e.code}]`, lead: [e.message], lines: [], tail: [`→ ${e.hint}`] });
  const recovered = events.find((e) => e.code === 'recovered');
  return {
    title: recovered
      ? `${recovered.title}: ${ctx.target.name}`
      : `Resolved on ${ctx.target.name}: ${cleared.map((o) => o.title).join(', ')}`,
    level: 'ok',
    summary: `${ctx.target.name}: ${cleared.map((o) => `${o.code} resolved`).join(', ')}`,
    fields: [
      { label: 'Database', value: ctx.target.display },
      { label: 'Checked', value: formatTime(ctx.now, ctx.timezone) },
    ],
    sections,
  };
}
