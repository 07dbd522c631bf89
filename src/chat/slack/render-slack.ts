import type { types } from '@slack/bolt';
import { LEVEL_EMOJI, progressBar, type Report, type ReportSection } from '../../core/report.js';
import { clipTo, fitSection } from '../fit-section.js';

type KnownBlock = types.KnownBlock;

/** Block Kit limits we build within (https://docs.slack.dev/reference/block-kit/blocks). */
export const SLACK_LIMITS = {
  blocks: 50,
  text: 3000,
  fieldText: 2000,
  fieldsPerSection: 10,
  header: 150,
  contextElements: 10,
  /** Our own cap: a message longer than this is unreadable in a channel anyway. */
  linesPerSection: 40,
  /** Our own caps per line: a list line, and a kept line (a hint or a restore command may be long). */
  listLine: 500,
  keptLine: 1000,
  fieldSections: 3,
  fallbackText: 3000,
} as const;

export interface SlackMessage {
  /** Plain fallback: notifications, screen readers, clients without Block Kit. */
  text: string;
  blocks: KnownBlock[];
}

/** Report → Block Kit message; every limit holds by construction, whatever the Report's size. */
export function renderSlack(report: Report, opts: { environment?: string } = {}): SlackMessage {
  const blocks: KnownBlock[] = [];
  // Reserved at the end: the footer and one "N more" note.
  const room = () => SLACK_LIMITS.blocks - blocks.length - 2;

  const env = opts.environment && !report.title.includes(opts.environment) ? `${opts.environment} · ` : '';
  blocks.push({
    type: 'header',
    text: {
      type: 'plain_text',
      text: clipTo(`${LEVEL_EMOJI[report.level]} ${env}${report.title}`, SLACK_LIMITS.header),
      emoji: true,
    },
  });

  const maxFields = SLACK_LIMITS.fieldsPerSection * SLACK_LIMITS.fieldSections;
  const fields = report.fields.slice(0, maxFields);
  for (let i = 0; i < fields.length && room() > 0; i += SLACK_LIMITS.fieldsPerSection) {
    blocks.push({
      type: 'section',
      fields: fields.slice(i, i + SLACK_LIMITS.fieldsPerSection).map((f) => ({
        type: 'mrkdwn' as const,
        text: clipTo(`*${mrkdwnEscape(f.label)}*\n${mrkdwnEscape(f.value)}`, SLACK_LIMITS.fieldText),
      })),
    });
  }
  if (report.fields.length > maxFields)
    blocks.push(context(`… and ${report.fields.length - maxFields} more fields`));

  if (report.progress) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clipTo(
          `\`${progressBar(report.progress.fraction)}\`  ${mrkdwnEscape(report.progress.label)}`,
          SLACK_LIMITS.text,
        ),
      },
    });
  }

  let shown = 0;
  for (const section of report.sections) {
    if (room() <= 0) break;
    blocks.push(section.muted ? mutedBlock(section) : sectionBlock(section));
    shown++;
  }
  const hidden = report.sections.length - shown;
  if (hidden > 0) blocks.push(context(`… and ${hidden} more section${hidden === 1 ? '' : 's'}`));
  if (report.footer) blocks.push(context(mrkdwnEscape(report.footer)));

  // The fallback is mrkdwn too (notifications): escaped, or a "<!channel>" in a message would ping everyone.
  return { text: clipTo(mrkdwnEscape(report.summary || report.title), SLACK_LIMITS.fallbackText), blocks };
}

/** A section's lines as one mrkdwn text. */
function sectionBlock(section: ReportSection): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: sectionText(section) } };
}

/** Muted sections (warnings, small print) as a context block. */
function mutedBlock(section: ReportSection): KnownBlock {
  return context(sectionText(section));
}

function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: clipTo(text, SLACK_LIMITS.text) }] };
}

/** Title, lead and tail whole, and as much of the list as fits the text limit and the line cap. */
function sectionText(section: ReportSection): string {
  const kept = (lines: string[] = []) => lines.map((l) => clipTo(mrkdwnEscape(l), SLACK_LIMITS.keptLine));
  const lines = fitSection(
    {
      lead: [...(section.title ? [`*${mrkdwnEscape(section.title)}*`] : []), ...kept(section.lead)],
      list: section.lines.map((l) => clipTo(mrkdwnEscape(l), SLACK_LIMITS.listLine)),
      tail: kept(section.tail),
    },
    SLACK_LIMITS.text,
    { maxItems: SLACK_LIMITS.linesPerSection, more: (n) => `_… and ${n} more_` },
  );
  const text = lines.join('\n');
  return text.trim() === '' ? ' ' : text;
}

/** mrkdwn needs &, < and > escaped, or user text could become mentions and links. */
export function mrkdwnEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
