import type {
  APIActionRowComponent,
  APIButtonComponentWithCustomId,
  APIEmbed,
  APIEmbedField,
} from 'discord.js';
import {
  type Level,
  progressBar,
  type Report,
  type ReportAction,
  type ReportSection,
} from '../../core/report.js';
import {
  clipTo,
  fitSection,
  joinedLength,
  minimumLength,
  type SectionLines,
  shareBudget,
} from '../fit-section.js';

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
  customId: 100,
  buttonLabel: 80,
  buttonsPerRow: 5,
} as const;

/** Every button dbwarden renders has a custom_id "dbw|<action>|<value>": one listener routes them. */
export const DISCORD_ACTION_PREFIX = 'dbw|';
/** Room kept in a message with buttons for the note of what a button did (an embed of its own). */
export const NOTE_ROOM = 300;

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
  /** The Report's buttons, one row; absent without any. */
  components?: APIActionRowComponent<APIButtonComponentWithCustomId>[];
}

/** Button styles: Primary 1, Secondary 2, Danger 4. */
const STYLE = { primary: 1, danger: 4 } as const;

/** A Report's buttons as one action row (type 1) of buttons (type 2), each naming its action in its custom_id. */
export function renderComponents(
  actions: ReportAction[],
): APIActionRowComponent<APIButtonComponentWithCustomId>[] {
  if (actions.length === 0) return [];
  return [
    {
      type: 1,
      components: actions.slice(0, DISCORD_LIMITS.buttonsPerRow).map((a) => ({
        type: 2,
        style: a.style ? STYLE[a.style] : 2,
        label: clipTo(a.label, DISCORD_LIMITS.buttonLabel),
        custom_id: `${DISCORD_ACTION_PREFIX}${a.id}|${a.value}`.slice(0, DISCORD_LIMITS.customId),
      })),
    },
  ];
}

/** The action and value a custom_id names, or null when it is not one of ours. */
export function parseCustomId(customId: string): { id: string; value: string } | null {
  if (!customId.startsWith(DISCORD_ACTION_PREFIX)) return null;
  const [id = '', ...rest] = customId.slice(DISCORD_ACTION_PREFIX.length).split('|');
  return id ? { id, value: rest.join('|') } : null;
}

/** A posted message's embeds with what a button did as a last small embed, replacing an earlier note. */
export function embedsWithNote(embeds: APIEmbed[], note: string, level: Level): APIEmbed[] {
  const kept = embeds.filter((e) => e.author?.name !== NOTE_AUTHOR).slice(0, DISCORD_LIMITS.embeds - 1);
  return [
    ...kept,
    {
      author: { name: NOTE_AUTHOR },
      description: clipTo(escapeMarkdown(note), NOTE_ROOM - 20),
      color: LEVEL_COLOUR[level],
    },
  ];
}
const NOTE_AUTHOR = 'dbwarden';

/** Report → embeds, within every Discord limit by construction; what does not fit ends in "and N more". */
export function renderDiscord(report: Report, opts: DiscordRenderOptions): APIEmbed[] {
  const title = clipTo(report.title, DISCORD_LIMITS.title);
  const footer = clipTo(
    [opts.environment, report.footer].filter(Boolean).join(' · '),
    // Small on purpose: the footer is context, the budget belongs to the report.
    200,
  );
  let budget = DISCORD_LIMITS.total - title.length - footer.length - (report.actions?.length ? NOTE_ROOM : 0);

  // The description always shows progress and keeps at least this much room for the sections.
  const progress = report.progress
    ? clipTo(`${progressBar(report.progress.fraction)}  ${escapeMarkdown(report.progress.label)}`, 300)
    : '';
  // The sections' kept lines (what happened, the hint, the way back) and some of their lists come before fields.
  const sections = report.sections.map(sectionLines);
  const kept = sections.reduce((n, s) => n + minimumLength(s, MORE) + 1, 0);
  const reserve = Math.min(
    budget,
    DISCORD_LIMITS.description,
    progress.length + 2 + (sections.length ? kept + 1200 : 0),
  );
  const fields = renderFields(report, budget - reserve);
  for (const f of fields) budget -= f.name.length + f.value.length;

  const description = renderDescription(sections, progress, Math.min(DISCORD_LIMITS.description, budget));
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
  const components = renderComponents(report.actions ?? []);
  return {
    content: clipTo(report.summary, DISCORD_LIMITS.content),
    embeds: renderDiscord(report, opts),
    ...(components.length ? { components } : {}),
  };
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
    const name = clipTo(f.label, DISCORD_LIMITS.fieldName) || '\u200b';
    const value = clipTo(escapeMarkdown(f.value), DISCORD_LIMITS.fieldValue) || '—';
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

/** How a section's list ends when it is cut. */
const MORE = { more: (n: number) => `… and ${n} more` };

/**
 * Progress, then every section that fits with its lead and tail whole; the room left is shared among the
 * sections' lists, each shortened with "… and N more". Sections that do not fit even so are counted at the end.
 */
function renderDescription(sections: SectionLines[], progress: string, budget: number): string {
  const parts: string[] = [];
  if (progress && progress.length <= budget) parts.push(progress);
  const mins = sections.map((s) => minimumLength(s, MORE));
  const wants = sections.map((s) => joinedLength([...s.lead, ...s.list, ...s.tail]));
  const room = budget - (parts.length ? progress.length + 1 : 0);
  const note = (hidden: number) =>
    hidden > 0 ? `… and ${hidden} more section${hidden === 1 ? '' : 's'}` : '';
  // Sections are joined by newlines, and the note about hidden ones takes a line of its own.
  const cost = (n: number) =>
    mins.slice(0, n).reduce((a, b) => a + b, 0) + n + (note(sections.length - n).length || -1);
  let count = sections.length;
  while (count > 0 && cost(count) > room) count--;
  const budgets = shareBudget(
    mins.slice(0, count),
    wants.slice(0, count),
    room - (cost(count) - sum(mins, count)),
  );
  for (let i = 0; i < count; i++) {
    const lines = fitSection(sections[i]!, budgets[i]!, MORE);
    if (lines.length) parts.push(lines.join('\n'));
  }
  const hidden = note(sections.length - count);
  if (hidden && joinedLength([...parts, hidden]) <= budget) parts.push(hidden);
  return parts.join('\n');
}

function sum(xs: number[], n: number): number {
  return xs.slice(0, n).reduce((a, b) => a + b, 0);
}

/** A section as description lines: bold title, italic when muted, Markdown escaped, long lines clipped. */
function sectionLines(s: ReportSection): SectionLines {
  const line = (max: number) => (l: string) => {
    const t = clipTo(escapeMarkdown(l), max);
    return s.muted ? `*${t}*` : t;
  };
  return {
    lead: [
      ...(s.title ? [`**${clipTo(escapeMarkdown(s.title), 200)}**`] : []),
      ...(s.lead ?? []).map(line(1000)),
    ],
    list: s.lines.map(line(500)),
    tail: (s.tail ?? []).map(line(1000)),
  };
}

/** Text from the database (table names with underscores, stars) must not turn into Discord formatting. */
export function escapeMarkdown(s: string): string {
  return s.replace(/([\\*_~`|>])/g, '\\$1');
}
