import { describe, expect, it } from 'vitest';
import {
  DISCORD_LIMITS,
  embedLength,
  embedsWithNote,
  LEVEL_COLOUR,
  parseCustomId,
  renderDiscord,
  renderDiscordMessage,
} from '../src/chat/discord/render-discord.js';
import { errorReport, type Report } from '../src/core/report.js';
import type { DbStatus } from '../src/core/status.js';
import { statusReport } from '../src/core/status-report.js';
import { longName, tablesGoneReport, WAY_BACK } from './helpers/warning-reports.js';

const now = new Date('2026-11-26T01:30:00Z');

function checkLimits(report: Report) {
  const embeds = renderDiscord(report, { environment: 'production', now });
  expect(embeds.length).toBeGreaterThan(0);
  expect(embeds.length).toBeLessThanOrEqual(DISCORD_LIMITS.embeds);
  expect(embedLength(embeds)).toBeLessThanOrEqual(DISCORD_LIMITS.total);
  for (const e of embeds) {
    expect((e.title ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect((e.description ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect((e.footer?.text ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.footer);
    expect((e.fields ?? []).length).toBeLessThanOrEqual(DISCORD_LIMITS.fields);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeGreaterThan(0);
      expect(f.name.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldName);
      expect(f.value.length).toBeGreaterThan(0);
      expect(f.value.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldValue);
    }
  }
  return embeds;
}

/** A status of a database with 200 watched tables, as probeStatus would return it. */
function bigStatus(): DbStatus {
  return {
    target: {
      name: 'railway',
      environment: 'production',
      display: 'postgres://app@db.internal:5432/railway',
    },
    checkedAt: now.toISOString(),
    reachable: true,
    error: null,
    serverVersion: '15.8',
    serverVersionNum: 150008,
    sizeBytes: 123_456_789,
    tableCount: 200,
    tables: Array.from({ length: 200 }, (_, i) => ({
      schema: 'public',
      name: `customer_orders_archive_${String(i).padStart(3, '0')}`,
      rows: 1000 + i,
      exact: true,
      watched: true,
      sizeBytes: 8192,
    })),
    identity: null,
    migrations: null,
    lastBackup: null,
    warnings: [],
    timings: {},
  };
}

describe('Discord renderer', () => {
  it('renders a 200-table status within every limit, ending the list with "and N more"', () => {
    const report = statusReport(bigStatus());
    const [embed] = checkLimits(report);
    expect(embed!.title).toBe('production · railway');
    expect(embed!.color).toBe(LEVEL_COLOUR.ok);
    expect(embed!.timestamp).toBe(now.toISOString());
    expect(embed!.footer!.text).toMatch(/^production · checked /);
    expect(embed!.fields!.map((f) => f.name)).toContain('Database');
    const description = embed!.description!;
    expect(description).toContain('**Watched tables**');
    // Underscores of table names are escaped so Discord does not turn them into italics.
    expect(description).toContain('customer\\_orders\\_archive\\_000: 1,000 rows');
    const shown = description.split('\n').filter((l) => l.includes('rows')).length;
    const more = Number(/… and (\d+) more$/.exec(description)?.[1]);
    expect(shown).toBeGreaterThan(20);
    expect(shown + more).toBe(200);
  });

  it('keeps to 25 fields and 1024-char values, counting what was left out', () => {
    const report: Report = {
      title: 'T'.repeat(400),
      level: 'warn',
      summary: 's'.repeat(3000),
      fields: Array.from({ length: 60 }, (_, i) => ({ label: `L${i}`.repeat(100), value: 'v'.repeat(2000) })),
      sections: [{ title: 'Lines', lines: Array.from({ length: 500 }, (_, i) => `line ${i}`) }],
      progress: { fraction: 0.5, label: 'dumping' },
      footer: 'f',
    };
    const [embed] = checkLimits(report);
    expect(embed!.color).toBe(LEVEL_COLOUR.warn);
    expect(embed!.title!.endsWith('…')).toBe(true);
    const last = embed!.fields!.at(-1)!;
    const more = Number(/^and (\d+) more$/.exec(last.value)?.[1]);
    expect(embed!.fields!.length - 1 + more).toBe(60);
    expect(embed!.description!.startsWith('▓▓▓▓▓▓▓▓▓▓░░░░░░░░░░ 50%  dumping')).toBe(true);
    expect(embed!.description).toMatch(/… and \d+ more$/);
    expect(renderDiscordMessage(report, { environment: 'x' }).content.length).toBeLessThanOrEqual(2000);
  });

  it('caps at 25 fields even when every field is short', () => {
    const report: Report = {
      title: 'many',
      level: 'ok',
      summary: 'many',
      fields: Array.from({ length: 40 }, (_, i) => ({ label: `f${i}`, value: `${i}` })),
      sections: [],
    };
    const [embed] = checkLimits(report);
    expect(embed!.fields).toHaveLength(25);
    expect(embed!.fields![24]).toEqual({ name: '…', value: 'and 16 more' });
    expect(embed!.fields![23]!.value).toBe('23');
  });

  it('renders an error report in red with its hint, and never an empty field', () => {
    const report = errorReport('Backup failed', { message: 'disk full', hint: 'free some space' });
    const [embed] = checkLimits({ ...report, fields: [{ label: '', value: '' }] });
    expect(embed!.color).toBe(LEVEL_COLOUR.critical);
    expect(embed!.description).toBe('disk full\n→ free some space');
    // However long the message, the hint stays.
    const [long] = checkLimits(
      errorReport('Backup failed', { message: 'x'.repeat(9000), hint: 'free some space' }),
    );
    expect(long!.description!.endsWith('…\n→ free some space')).toBe(true);
  });

  describe('a table-missing warning for 150 tables keeps its hint and way back, shortening only the list', () => {
    for (const [what, name] of [
      ['short names', undefined],
      ['63-character names', longName],
    ] as const) {
      it(what, () => {
        const [embed] = checkLimits(tablesGoneReport(150, name));
        // Markdown escapes (\_, \`) removed: what the reader sees.
        const text = embed!.description!.replace(/\\(.)/g, '$1');
        expect(text).toContain('150 tables that existed are gone from app');
        expect(text).toContain(WAY_BACK.hint);
        expect(text).toContain(WAY_BACK.wayBack);
        expect(text).toContain(WAY_BACK.command);
        // The list ends in a count of what was left out, and that count is right.
        const shown = text.split('\n').filter((l) => l.startsWith('• ')).length;
        const more = Number(/\n… and (\d+) more\n/.exec(text)?.[1]);
        expect(shown).toBeGreaterThan(10);
        expect(shown + more).toBe(150);
        // The command is the last line: nothing after the way back was cut off.
        expect(text.endsWith(WAY_BACK.command)).toBe(true);
      });
    }

    it('shares the room between several warnings, each with its way back', () => {
      const one = tablesGoneReport(150, longName);
      const two = tablesGoneReport(80);
      const report: Report = { ...one, sections: [...one.sections, ...two.sections, ...one.sections] };
      const [embed] = checkLimits(report);
      const text = embed!.description!.replace(/\\(.)/g, '$1');
      expect(text.split(WAY_BACK.command)).toHaveLength(4);
      expect(text.split(WAY_BACK.hint)).toHaveLength(4);
      expect([...text.matchAll(/… and (\d+) more/g)]).toHaveLength(3);
    });

    it('counts the warnings that do not fit at all instead of failing', () => {
      const one = tablesGoneReport(150, longName);
      const report: Report = { ...one, sections: Array.from({ length: 40 }, () => one.sections[0]!) };
      const [embed] = checkLimits(report);
      const text = embed!.description!.replace(/\\(.)/g, '$1');
      const shownSections = text.split(WAY_BACK.command).length - 1;
      const hidden = Number(/… and (\d+) more sections$/.exec(text)?.[1]);
      expect(shownSections).toBeGreaterThan(0);
      expect(shownSections + hidden).toBe(40);
    });
  });
});

describe('buttons', () => {
  const withActions: Report = {
    ...tablesGoneReport(150, longName),
    actions: [
      { id: 'way-back', label: 'Show the way back', style: 'primary', value: '20261124T030000.000Z-a1b2c3' },
      { id: 'backup-now', label: 'Take a backup now', value: 'table-missing' },
      { id: 'accept', label: 'Accept this change', style: 'danger', value: 'x'.repeat(200) },
    ],
  };

  it('become one row of buttons whose custom_id fits 100 characters and parses back', () => {
    const msg = renderDiscordMessage(withActions, { environment: 'production', now });
    const row = msg.components![0]!;
    expect(row.type).toBe(1);
    expect(row.components.map((b) => b.style)).toEqual([1, 2, 4]);
    for (const b of row.components) expect(b.custom_id.length).toBeLessThanOrEqual(DISCORD_LIMITS.customId);
    expect(parseCustomId(row.components[0]!.custom_id)).toEqual({
      id: 'way-back',
      value: '20261124T030000.000Z-a1b2c3',
    });
    expect(parseCustomId('someone-else')).toBeNull();
  });

  it('leave room for the note: the edited message stays within 6000 characters and 10 embeds', () => {
    const embeds = checkLimits(withActions);
    const noted = embedsWithNote(embedsWithNote(embeds, 'first', 'ok'), `✅ ${'y'.repeat(1000)}`, 'ok');
    expect(noted).toHaveLength(2);
    expect(embedLength(noted)).toBeLessThanOrEqual(DISCORD_LIMITS.total);
  });
});
