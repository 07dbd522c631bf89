import type { APIEmbed, APIEmbedField } from 'discord.js';
import { type Level, progressBar, type Report } from '../../core/report.js';

/** Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
export const DISCORD_LIMITS = {
  embeds: 10,
  fields: 25,
  title: 256,
  fieldName: 256,
  fieldValue: 1024,
  description: 4096,
  footer: 2048,
  total: 6000,
  content: 2000,
} as const;

export const LEVEL_COLOUR: Record<Level, number> = { ok: 0x2ecc71, warn: 0xf1c40f, critical: 0xe74c3c };

export interface DiscordRenderOptions {
  /** Shown in the footer so a message from staging is never mistaken for production. */
  environment: string;
  now?: Date;
}

/** A message body for Discord: `content` is what notifications show, the embed is the report. */
export interface DiscordMessage {
  content: string;
  embeds: APIEmbed[];
}

/** Report → embeds, within every Discord limit by construction; what does not fit ends in "and N more". */
export function renderDiscord(report: Report, opts: DiscordRenderOptions): APIEmbed[] {
  const title = clip(report.title, DISCORD_LIMITS.title);
  const footer = clip(
    [opts.environment, report.footer].filter(Boolean).join(' · '),
    // Small on purpose: the footer is context, the budget belongs to the report.
    200,
  );
  let budget = DISCORD_LIMITS.total - title.length - footer.length;

  // The description always shows progress and keeps at least this much room for the sections.
  const progress = report.progress
    ? clip(`${progressBar(report.progress.fraction)}  ${escapeMarkdown(report.progress.label)}`, 300)
    : '';
  const reserve = Math.min(budget, progress.length + (report.sections.length ? 1200 : 0) + 2);
  const fields = renderFields(report, budget - reserve);
  for (const f of fields) budget -= f.name.length + f.value.length;

  const description = renderDescription(report, progress, Math.min(DISCORD_LIMITS.description, budget));
  const embed: APIEmbed = {
    title,
    color: LEVEL_COLOUR[report.level],
    ...(description ? { description } : {}),
    ...(fields.length ? { fields } : {}),
    footer: { text: footer || 'dbwarden' },
    timestamp: (opts.now ?? new Date()).toISOString(),
  };
  return [embed];
}

/** The full message: summary as content (push notifications show it), the report as embeds. */
export function renderDiscordMessage(report: Report, opts: DiscordRenderOptions): DiscordMessage {
  return { content: clip(report.summary, DISCORD_LIMITS.content), embeds: renderDiscord(report, opts) };
}

/** Total characters Discord counts against the 6000 limit across a message's embeds. */
export function embedLength(embeds: APIEmbed[]): number {
  let n = 0;
  for (const e of embeds) {
    n += (e.title ?? '').length + (e.description ?? '').length + (e.footer?.text ?? '').length;
    n += (e.author?.name ?? '').length;
    for (const f of e.fields ?? []) n += f.name.length + f.value.length;
  }
  return n;
}

function renderFields(report: Report, budget: number): APIEmbedField[] {
  const out: APIEmbedField[] = [];
  const total = report.fields.length;
  // Room for a last "and N more" field when the report has more than fits.
  const moreRoom = 40;
  let used = 0;
  for (let i = 0; i < total; i++) {
    const f = report.fields[i]!;
    const name = clip(f.label, DISCORD_LIMITS.fieldName) || '\u200b';
    const value = clip(escapeMarkdown(f.value), DISCORD_LIMITS.fieldValue) || '—';
    const lastSlot = out.length === DISCORD_LIMITS.fields - 1 && i < total - 1;
    const cost = name.length + value.length;
    if (lastSlot || used + cost + (i < total - 1 ? moreRoom : 0) > budget) {
      const more = `and ${total - i} more`;
      if (used + more.length + 1 <= budget) out.push({ name: '…', value: more });
      break;
    }
    out.push({ name, value, inline: value.length <= 40 });
    used += cost;
  }
  return out;
}

function renderDescription(report: Report, progress: string, budget: number): string {
  const parts: string[] = [];
  let used = 0;
  const push = (s: string) => {
    parts.push(s);
    used += s.length + (parts.length > 1 ? 1 : 0);
  };
  if (progress && progress.length <= budget) push(progress);
  const lines: string[] = [];
  for (const s of report.sections) {
    if (s.title) lines.push(`**${clip(escapeMarkdown(s.title), 200)}**`);
    for (const l of s.lines)
      lines.push(s.muted ? `*${clip(escapeMarkdown(l), 500)}*` : clip(escapeMarkdown(l), 500));
  }
  const totalLines = lines.length;
  for (let i = 0; i < totalLines; i++) {
    const line = lines[i]!;
    const remaining = totalLines - i - 1;
    const tail = remaining > 0 ? `… and ${remaining + 1} more`.length + 1 : 0;
    if (used + line.length + 1 + tail > budget) {
      const more = `… and ${totalLines - i} more`;
      if (used + more.length + 1 <= budget) push(more);
      break;
    }
    push(line);
  }
  return parts.join('\n');
}

/** Cut to at most `max` UTF-16 units, never through a surrogate pair, marking the cut with "…". */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, Math.max(0, max - 1));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Text from the database (table names with underscores, stars) must not turn into Discord formatting. */
export function escapeMarkdown(s: string): string {
  return s.replace(/([\\*_~`|>])/g, '\\$1');
}
