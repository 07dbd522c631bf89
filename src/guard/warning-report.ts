import { formatBytes, formatTime } from '../core/format.js';
import { type Level, type Report, type ReportAction, type ReportSection, worst } from '../core/report.js';
import type { TargetInfo } from '../core/target.js';
import { DATA_LOSS, WARNING_CODES, type Warning, type WarningCode, type WayBack } from '../core/warning.js';
import { type OpenWarning, restoreCommand } from './guard.js';

export interface WarningReportContext {
  target: Pick<TargetInfo, 'name' | 'environment' | 'display'>;
  timezone: string;
  now: Date;
  /**
   * When each warning opened, as the watch records it (OpenWarning.since): the buttons name that occurrence. Without
   * it, `now`: when a new warning opens (watch.ts).
   */
  since?: (w: Warning) => string;
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
  const actions = warningActions(warnings, ctx.since ?? (() => ctx.now.toISOString()));
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
    ...(actions.length ? { actions } : {}),
  };
}

/**
 * The buttons under a data-loss warning: the way back (when there is one), a backup now, and accepting the change.
 * Values are the backup id and the warning's reference (warningRef): what to act on is looked up again when a button
 * is pressed.
 */
export function warningActions(warnings: Warning[], since: (w: Warning) => string): ReportAction[] {
  const loss = warnings.find((w) => DATA_LOSS.has(w.code));
  if (!loss) return [];
  const way = warnings.find((w) => w.wayBack)?.wayBack;
  const ref = warningRef(loss.code, since(loss));
  return [
    ...(way ? [{ ...WARNING_ACTIONS.wayBack, value: way.backupId }] : []),
    { ...WARNING_ACTIONS.backupNow, value: ref },
    { ...WARNING_ACTIONS.accept, value: ref },
  ];
}

/**
 * One occurrence of a warning, as its buttons name it: "rows-dropped@1795579200000", the code and when it opened
 * (ms). A code alone would let an old message act on a newer warning of the same kind.
 */
export function warningRef(code: WarningCode, since: string): string {
  return `${code}@${Date.parse(since)}`;
}

/** The occurrence a button names, or null when the value is not a warning reference (another version's button). */
export function parseWarningRef(value: string): { code: WarningCode; sinceMs: number } | null {
  const m = /^([a-z-]{1,40})@(\d{1,15})$/.exec(value);
  if (!m || !(WARNING_CODES as readonly string[]).includes(m[1]!)) return null;
  return { code: m[1] as WarningCode, sinceMs: Number(m[2]) };
}

/** Is `open` (the warning open now, if any) the occurrence the button named? */
export function isOccurrence(open: { since: string } | undefined, ref: { sinceMs: number }): boolean {
  return open !== undefined && Date.parse(open.since) === ref.sinceMs;
}

/** The data-loss warning's buttons, without their values: one definition for the report and the dispatcher. */
export const WARNING_ACTIONS = {
  wayBack: { id: 'way-back', label: 'Show the way back', style: 'primary' },
  backupNow: { id: 'backup-now', label: 'Take a backup now' },
  accept: {
    id: 'accept',
    label: 'Accept this change',
    style: 'danger',
    confirm: {
      title: 'Accept this change?',
      text: 'The database as it is now becomes what dbwarden expects, and its data-loss warnings close. Only when the change was intended.',
      ok: 'Accept',
      deny: 'Cancel',
    },
  },
} as const satisfies Record<string, Omit<ReportAction, 'value'>>;

/**
 * The way back, answered only to whoever asked: the restore command with the masked URL (the guard's own), and the
 * safer variant into a scratch database to copy rows back from. Restoring stays a person's job, with the owner's
 * credentials: chat only shows how.
 */
export function wayBackReport(
  way: WayBack,
  target: { name: string; display: string },
  timezone: string,
): Report {
  const scratch = scratchUrl(target.display);
  return {
    title: `The way back: ${target.name}`,
    level: 'ok',
    summary: `Restore backup ${way.backupId} of ${target.name}: ${way.command}`,
    fields: [
      { label: 'Backup', value: way.backupId },
      { label: 'Taken', value: formatTime(new Date(way.takenAt), timezone) },
      { label: 'Size', value: formatBytes(way.sizeBytes) },
    ],
    sections: [
      {
        title: 'Into a scratch database (safest: copy the rows back from there)',
        lead: [
          `createdb ${new URL(scratch).pathname.slice(1)}  (on the same server, as its owner)`,
          `  ${restoreCommand(way.backupId, scratch)}`,
        ],
        lines: [],
      },
      {
        title: 'Over the database itself (everything since the backup is lost)',
        lead: [`  ${way.command} --clean --i-know-this-is-production`],
        lines: [],
        tail: ['→ Run these where the database password is at hand; dbwarden never restores from chat.'],
      },
    ],
  };
}

/** The target's masked URL with a "_restore" database next to it. */
function scratchUrl(display: string): string {
  try {
    const u = new URL(display);
    u.pathname = `/${decodeURIComponent(u.pathname.slice(1)) || 'postgres'}_restore`;
    return u.toString();
  } catch {
    return display;
  }
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
