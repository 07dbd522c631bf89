import { describe, expect, it } from 'vitest';
import { renderText } from '../src/chat/console/render-text.js';
import { longName, tablesGoneReport, WAY_BACK } from './helpers/warning-reports.js';

describe('text renderer', () => {
  it('shortens a 150-table list but keeps the hint and the way back', () => {
    const text = renderText(tablesGoneReport(150, longName), { maxLines: 40 });
    expect(text).toContain('150 tables that existed are gone from app');
    expect(text.split('\n').filter((l) => l.startsWith('  • '))).toHaveLength(40);
    expect(text).toContain('  … and 110 more');
    expect(text).toContain(WAY_BACK.hint);
    expect(text).toContain(WAY_BACK.wayBack);
    expect(text).toContain(WAY_BACK.command);
  });

  it('a terminal has no buttons: their typed equivalents are listed once', () => {
    const text = renderText({
      title: 'Backup failed',
      level: 'critical',
      summary: 'Backup failed',
      fields: [],
      sections: [],
      actions: [
        { id: 'retry-backup', label: 'Retry now', value: 'app' },
        { id: 'show-cause', label: 'Show the cause', value: 'app' },
        { id: 'accept', label: 'Accept this change', value: 'rows-dropped' },
      ],
    });
    expect(text).toContain(
      'What you can do here: `dbwarden backup` or /backup-now (retry now) · `dbwarden accept` (accept this change)',
    );
    expect(text).not.toContain('show the cause');
    expect(renderText({ title: 't', level: 'ok', summary: 's', fields: [], sections: [] })).not.toContain(
      'What you can do',
    );
  });
});
