import type { types } from '@slack/bolt';
import {
  LEVEL_EMOJI,
  progressBar,
  type Report,
  type ReportAction,
  type ReportSection,
} from '../../core/report.js';
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
  /** Buttons in one actions block (Slack allows 25); ours are never more than a handful. */
  actions: 5,
  buttonText: 75,
  buttonValue: 2000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
} as const;

/** Every button dbwarden renders has an action_id starting with this; Bolt routes them to one listener. */
export const SLACK_ACTION_PREFIX = 'dbwarden.';
/** The block holding a Report's buttons, and the block a button's outcome is noted in. */
export const ACTIONS_BLOCK = 'dbwarden-actions';
export const NOTE_BLOCK = 'dbwarden-note';

export interface SlackMessage {
  /** Plain fallback: notifications, screen readers, clients without Block Kit. */
  text: string;
  blocks: KnownBlock[];
}

/** Report → Block Kit message; every limit holds by construction, whatever the Report's size. */
export function renderSlack(report: Report, opts: { environment?: string } = {}): SlackMessage {
  const blocks: KnownBlock[] = [];
  // Reserved at the end: the footer and one "N more" note; with buttons, their block and the note of what they did.
  const reserved = 2 + (report.actions?.length ? 2 : 0);
  const room = () => SLACK_LIMITS.blocks - blocks.length - reserved;

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
  if (report.actions?.length) blocks.push(actionsBlock(report.actions));

  // The fallback is mrkdwn too (notifications): escaped, or a "<!channel>" in a message would ping everyone.
  return { text: clipTo(mrkdwnEscape(report.summary || report.title), SLACK_LIMITS.fallbackText), blocks };
}

/** A Report's buttons as one actions block; a confirm step becomes Slack's own confirm dialog. */
export function actionsBlock(actions: ReportAction[]): KnownBlock {
  return {
    type: 'actions',
    block_id: ACTIONS_BLOCK,
    elements: actions.slice(0, SLACK_LIMITS.actions).map((a) => ({
      type: 'button' as const,
      action_id: `${SLACK_ACTION_PREFIX}${a.id}`,
      text: { type: 'plain_text' as const, text: clipTo(a.label, SLACK_LIMITS.buttonText), emoji: true },
      value: a.value.slice(0, SLACK_LIMITS.buttonValue),
      ...(a.style ? { style: a.style } : {}),
      ...(a.confirm
        ? {
            confirm: {
              title: {
                type: 'plain_text' as const,
                text: clipTo(a.confirm.title, SLACK_LIMITS.confirmTitle),
              },
              text: { type: 'plain_text' as const, text: clipTo(a.confirm.text, SLACK_LIMITS.confirmText) },
              confirm: {
                type: 'plain_text' as const,
                text: clipTo(a.confirm.ok, SLACK_LIMITS.confirmButton),
              },
              deny: { type: 'plain_text' as const, text: clipTo(a.confirm.deny, SLACK_LIMITS.confirmButton) },
              ...(a.style === 'danger' ? { style: 'danger' as const } : {}),
            },
          }
        : {}),
    })),
  };
}

/**
 * A posted message with what a button did noted at its end (replacing the previous note), and its buttons removed
 * when `close`: the channel keeps the story ("accepted by …"). Works on the blocks Slack sent with the click.
 */
export function withNote(blocks: KnownBlock[], note: string, close: boolean): KnownBlock[] {
  const kept = blocks.filter(
    (b) =>
      (b as { block_id?: string }).block_id !== NOTE_BLOCK &&
      !(close && (b as { block_id?: string }).block_id === ACTIONS_BLOCK),
  );
  const noteBlock = { ...context(mrkdwnEscape(note)), block_id: NOTE_BLOCK } as KnownBlock;
  const at = kept.findIndex((b) => (b as { block_id?: string }).block_id === ACTIONS_BLOCK);
  // The note goes just above the buttons (or last); a message already at the limit gives up its last block.
  const out = at >= 0 ? [...kept.slice(0, at), noteBlock, ...kept.slice(at)] : [...kept, noteBlock];
  while (out.length > SLACK_LIMITS.blocks) out.splice(out.indexOf(noteBlock) - 1, 1);
  return out;
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
