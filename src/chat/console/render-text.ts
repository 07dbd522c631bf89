import { LEVEL_EMOJI, progressBar, type Report } from '../../core/report.js';

export interface TextOptions {
  /** Cap each section's list; the rest is summarised as "and N more" (its lead and tail are always shown). */
  maxLines?: number;
  color?: boolean;
}

const COLORS = {
  ok: '\x1b[32m',
  warn: '\x1b[33m',
  critical: '\x1b[31m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
  reset: '\x1b[0m',
};

/** Report → terminal text, aligned like `heroku pg:info`. */
export function renderText(report: Report, opts: TextOptions = {}): string {
  const c = (code: keyof typeof COLORS, s: string) => (opts.color ? `${COLORS[code]}${s}${COLORS.reset}` : s);
  const out: string[] = [];
  const heading = `${LEVEL_EMOJI[report.level]} ${report.title}`;
  out.push(c('bold', heading));
  out.push(c('dim', '='.repeat(Math.min(60, [...heading].length + 1))));
  const width = Math.max(0, ...report.fields.map((f) => f.label.length));
  for (const f of report.fields) out.push(`${`${f.label}:`.padEnd(width + 2)}${f.value}`);
  if (report.progress) out.push(`${progressBar(report.progress.fraction)}  ${report.progress.label}`);
  const max = opts.maxLines ?? 40;
  for (const section of report.sections) {
    out.push('');
    if (section.title) out.push(c('bold', section.title));
    const style = (line: string) => `  ${section.muted ? c('dim', line) : line}`;
    for (const line of section.lead ?? []) out.push(style(line));
    for (const line of section.lines.slice(0, max)) out.push(style(line));
    if (section.lines.length > max) out.push(c('dim', `  … and ${section.lines.length - max} more`));
    for (const line of section.tail ?? []) out.push(style(line));
  }
  const here = (report.actions ?? []).flatMap((a) => {
    const how = IN_A_TERMINAL[a.id];
    return how ? [`${how} (${a.label.toLowerCase()})`] : [];
  });
  if (here.length > 0) {
    out.push('');
    out.push(`What you can do here: ${[...new Set(here)].join(' · ')}`);
  }
  if (report.footer) {
    out.push('');
    out.push(c('dim', report.footer));
  }
  return out.join('\n');
}

/**
 * A terminal has no buttons: what each chat button does, typed instead. "Show the way back" and "Show the cause"
 * need no line: the report itself already shows the restore command and the cause.
 */
const IN_A_TERMINAL: Record<string, string> = {
  'backup-now': '`dbwarden backup` or /backup-now',
  accept: '`dbwarden accept`',
  'retry-backup': '`dbwarden backup` or /backup-now',
};
