import { describe, expect, it } from 'vitest';
import { throttledReply } from '../src/chat/throttle.js';
import type { Report } from '../src/core/report.js';

const report = (title: string): Report => ({ title, level: 'ok', summary: title, fields: [], sections: [] });

describe('throttledReply', () => {
  it('sends the first update at once, coalesces a burst to the newest, and flushes the last', async () => {
    const sent: string[] = [];
    const reply = throttledReply({ update: async (r) => void sent.push(r.title) }, 50);
    await reply.update(report('a'));
    for (const t of ['b', 'c', 'd']) await reply.update(report(t));
    expect(sent).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 80));
    expect(sent).toEqual(['a', 'd']);
    await reply.update(report('e'));
    await reply.update(report('final'));
    await reply.flush();
    expect(sent.at(-1)).toBe('final');
    expect(sent).not.toContain('b');
  });
});
