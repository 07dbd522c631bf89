import { describe, expect, it } from 'vitest';
import {
  ACTIONS_BLOCK,
  NOTE_BLOCK,
  renderSlack,
  SLACK_LIMITS,
  type SlackMessage,
  withNote,
} from '../src/chat/slack/render-slack.js';
import { errorReport, type Report } from '../src/core/report.js';
import { longName, tablesGoneReport, WAY_BACK } from './helpers/warning-reports.js';

/** Every Block Kit limit Slack enforces on a message, checked on the rendered JSON. */
function assertWithinLimits(msg: SlackMessage): void {
  expect(msg.blocks.length).toBeLessThanOrEqual(50);
  expect(msg.text.length).toBeGreaterThan(0);
  expect(msg.text.length).toBeLessThanOrEqual(3000);
  for (const block of msg.blocks) {
    const b = block as {
      type: string;
      text?: { type: string; text: string };
      fields?: { text: string }[];
      elements?: { text: string }[];
    };
    if (b.type === 'header') {
      expect(b.text!.type).toBe('plain_text');
      expect(b.text!.text.length).toBeLessThanOrEqual(150);
    }
    if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
    if (b.text) expect(b.text.text.length).toBeGreaterThan(0);
    if (b.fields) {
      expect(b.fields.length).toBeLessThanOrEqual(10);
      for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(2000);
    }
    if (b.type === 'actions') {
      // Buttons: at most 25 to a block, label 75, value 2000, action_id 255.
      const buttons = b.elements as unknown as { text: { text: string }; value: string; action_id: string }[];
      expect(buttons.length).toBeLessThanOrEqual(25);
      for (const e of buttons) {
        expect(e.text.text.length).toBeLessThanOrEqual(75);
        expect(e.value.length).toBeLessThanOrEqual(2000);
        expect(e.action_id.length).toBeLessThanOrEqual(255);
      }
    } else if (b.elements) {
      expect(b.elements.length).toBeLessThanOrEqual(10);
      for (const e of b.elements) expect(e.text.length).toBeLessThanOrEqual(3000);
    }
  }
}

const base: Report = {
  title: 'production · app',
  level: 'ok',
  summary: '✅ production database app: 12 MB, 4 tables',
  fields: [
    { label: 'Database', value: 'postgres://app@db.internal:5432/app' },
    { label: 'Reachable', value: 'yes' },
  ],
  sections: [{ title: 'Warnings', lines: ['⚠️ backups are stale'], muted: true }],
  footer: 'checked 01:00 UTC',
};

describe('renderSlack', () => {
  it('renders header with level emoji, fields, warnings as context, footer and a text fallback', () => {
    const msg = renderSlack(base, { environment: 'production' });
    assertWithinLimits(msg);
    expect(msg.text).toBe(base.summary);
    expect(msg.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: '✅ production · app', emoji: true },
    });
    expect(msg.blocks[1]).toMatchObject({
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*Database*\npostgres://app@db.internal:5432/app' },
        { type: 'mrkdwn', text: '*Reachable*\nyes' },
      ],
    });
    expect(msg.blocks[2]).toMatchObject({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: '*Warnings*\n⚠️ backups are stale' }],
    });
    expect(msg.blocks.at(-1)).toMatchObject({ type: 'context', elements: [{ text: 'checked 01:00 UTC' }] });
  });

  it('names the environment when the title does not, and shows progress as a bar', () => {
    const msg = renderSlack(
      {
        ...base,
        title: 'Backup running',
        level: 'warn',
        progress: { fraction: 0.5, label: '12 MB of ~24 MB' },
      },
      { environment: 'staging' },
    );
    expect((msg.blocks[0] as { text: { text: string } }).text.text).toBe('⚠️ staging · Backup running');
    const bar = msg.blocks.find((b) => JSON.stringify(b).includes('▓'));
    expect(JSON.stringify(bar)).toContain('▓▓▓▓▓▓▓▓▓▓░░░░░░░░░░ 50%');
    expect(JSON.stringify(bar)).toContain('12 MB of ~24 MB');
  });

  it('escapes mrkdwn so text cannot become mentions or links', () => {
    const msg = renderSlack({
      ...base,
      summary: 'table <!channel> is gone',
      fields: [{ label: 'Table', value: '<!channel> & <@U1>' }],
    });
    expect(msg.text).toBe('table &lt;!channel&gt; is gone');
    expect(JSON.stringify(msg.blocks)).toContain('&lt;!channel&gt; &amp; &lt;@U1&gt;');
    expect(JSON.stringify(msg.blocks)).not.toContain('<!channel>');
  });

  it('renders a Report with 200 tables within every limit, truncated with "and N more"', () => {
    const tables = Array.from({ length: 200 }, (_, i) => `public.table_${i}: ${i * 1000} rows`);
    const msg = renderSlack({
      ...base,
      fields: Array.from({ length: 200 }, (_, i) => ({ label: `Table ${i}`, value: `${i} rows` })),
      sections: [{ title: 'Watched tables', lines: tables }],
    });
    assertWithinLimits(msg);
    const json = JSON.stringify(msg.blocks);
    expect(json).toContain('public.table_0: 0 rows');
    expect(json).toContain(`and ${200 - SLACK_LIMITS.linesPerSection} more`);
    expect(json).toContain(`and ${200 - 30} more fields`);
    expect(msg.blocks.filter((b) => b.type === 'section' && 'fields' in b)).toHaveLength(3);
  });

  it('stays within limits for huge titles, lines, many sections and long summaries', () => {
    const long = 'x'.repeat(10_000);
    const msg = renderSlack({
      title: long,
      level: 'critical',
      summary: long,
      fields: [{ label: long, value: long }],
      sections: Array.from({ length: 120 }, (_, i) => ({
        title: `Section ${i}`,
        lines: Array.from({ length: 30 }, () => 'y'.repeat(300)),
        muted: i % 2 === 0,
      })),
      footer: long,
    });
    assertWithinLimits(msg);
    expect(msg.blocks).toHaveLength(50);
    expect(JSON.stringify(msg.blocks)).toMatch(/and \d+ more sections/);
    // Only whole lines are shown; the rest is counted.
    expect(JSON.stringify(msg.blocks)).toMatch(/and \d+ more_/);
  });

  it('keeps the hint of an error report, however long its message', () => {
    const msg = renderSlack(
      errorReport('Backup failed', { message: 'x'.repeat(9000), hint: 'free some space' }),
    );
    assertWithinLimits(msg);
    expect(JSON.stringify(msg.blocks)).toContain('…\\n→ free some space');
  });

  it('renders an empty report', () => {
    const msg = renderSlack({ title: 't', level: 'ok', summary: '', fields: [], sections: [{ lines: [] }] });
    assertWithinLimits(msg);
    expect(msg.text).toBe('t');
  });

  describe('a table-missing warning for 150 tables keeps its hint and way back, shortening only the list', () => {
    for (const [what, name] of [
      ['short names', undefined],
      ['63-character names', longName],
    ] as const) {
      it(what, () => {
        const msg = renderSlack(tablesGoneReport(150, name), { environment: 'production' });
        assertWithinLimits(msg);
        const section = msg.blocks.find(
          (b) => b.type === 'section' && 'text' in b && b.text?.text.includes('[table-missing]'),
        ) as { text: { text: string } };
        const text = section.text.text;
        expect(text).toContain('150 tables that existed are gone from app');
        expect(text).toContain(WAY_BACK.hint);
        expect(text).toContain(WAY_BACK.wayBack);
        expect(text.endsWith(WAY_BACK.command)).toBe(true);
        const shown = text.split('\n').filter((l) => l.startsWith('• ')).length;
        const more = Number(/\n_… and (\d+) more_\n/.exec(text)?.[1]);
        expect(shown).toBeGreaterThan(10);
        expect(shown + more).toBe(150);
      });
    }

    it('keeps every way back when a report has many such warnings, counting the sections left out', () => {
      const one = tablesGoneReport(150, longName);
      const msg = renderSlack({ ...one, sections: Array.from({ length: 60 }, () => one.sections[0]!) });
      assertWithinLimits(msg);
      const sections = msg.blocks.filter((b) => JSON.stringify(b).includes('[table-missing]'));
      for (const b of sections) expect(JSON.stringify(b)).toContain(WAY_BACK.command);
      const hidden = Number(/and (\d+) more sections/.exec(JSON.stringify(msg.blocks))?.[1]);
      expect(sections.length + hidden).toBe(60);
    });
  });
});

describe('buttons', () => {
  const withActions: Report = {
    ...tablesGoneReport(150, longName),
    actions: [
      { id: 'way-back', label: 'Show the way back', style: 'primary', value: '20261124T030000.000Z-a1b2c3' },
      {
        id: 'accept',
        label: 'Accept this change',
        style: 'danger',
        value: 'table-missing',
        confirm: { title: 'Accept this change?', text: 'x'.repeat(400), ok: 'Accept', deny: 'Cancel' },
      },
    ],
  };

  it('become one actions block at the end, within the block limit however long the report, confirm clipped', () => {
    const msg = renderSlack(withActions, { environment: 'production' });
    assertWithinLimits(msg);
    const last = msg.blocks.at(-1) as { type: string; block_id: string; elements: Record<string, unknown>[] };
    expect(last.type).toBe('actions');
    expect(last.block_id).toBe(ACTIONS_BLOCK);
    expect(last.elements.map((e) => e.action_id)).toEqual(['dbwarden.way-back', 'dbwarden.accept']);
    const confirm = last.elements[1]!.confirm as { text: { text: string }; style: string };
    expect(confirm.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.confirmText);
    expect(confirm.style).toBe('danger');
  });

  it('a note replaces the previous one, sits above the buttons, and closing removes them', () => {
    const { blocks } = renderSlack(withActions, { environment: 'production' });
    const once = withNote(blocks, '⏳ started', false);
    const twice = withNote(once, '✅ <!channel> done', false);
    const notes = twice.filter((b) => (b as { block_id?: string }).block_id === NOTE_BLOCK);
    expect(notes).toHaveLength(1);
    expect(JSON.stringify(notes[0])).toContain('✅ &lt;!channel&gt; done');
    expect((twice.at(-1) as { block_id: string }).block_id).toBe(ACTIONS_BLOCK);
    expect(twice.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    const closed = withNote(twice, 'accepted', true);
    expect(closed.some((b) => (b as { block_id?: string }).block_id === ACTIONS_BLOCK)).toBe(false);
  });
});
