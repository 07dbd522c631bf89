import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatCommand } from '../src/chat/commands.js';
import type { Report } from '../src/core/report.js';
import { probeStatus } from '../src/core/status.js';
import { statusReport } from '../src/core/status-report.js';
import { createTarget } from '../src/core/target.js';
import { buildServices, type Services } from '../src/main.js';
import { canControlCluster, useTestCluster } from './helpers/cluster.js';

// /db-status in serve shows the exact counts the last watch round took, with their age (issue 14), and counts live
// when there is no round, the round is overdue, or it was of another database.
const db = useTestCluster();
const dirs: string[] = [];
const opened: Services[] = [];
let now = new Date('2026-11-24T10:00:30.000Z');
const clock = () => now;
const at = (iso: string) => {
  now = new Date(iso);
};

const seed = () =>
  db.sql(`DROP TABLE IF EXISTS users, events;
    CREATE TABLE users (id serial PRIMARY KEY); INSERT INTO users SELECT FROM generate_series(1, 100);
    CREATE TABLE events (id serial PRIMARY KEY); INSERT INTO events SELECT FROM generate_series(1, 500);`);

async function services(store: string): Promise<Services> {
  const s = await buildServices({
    env: {
      DATABASE_URL: db.url,
      DBWARDEN_STORE: store,
      DBWARDEN_ENV: 'production',
      DBWARDEN_WATCH_CRON: '*/5 * * * *',
      DBWARDEN_WATCH_TABLES: 'users,events',
      LOG_LEVEL: 'silent',
    },
    clock,
    consoleOutput: new PassThrough().resume(),
  });
  opened.push(s);
  return s;
}

/** /db-status as a user runs it: the command every adapter serves, its final answer. */
async function dbStatus(s: Services): Promise<Report> {
  const command = s.commands.find((c) => c.name === 'db-status') as ChatCommand;
  const answers: Report[] = [];
  await command.run('', { id: 'U1', platform: 'console' }, { update: async (r) => void answers.push(r) });
  return answers.at(-1)!;
}

const watchedLines = (r: Report) => r.sections.find((x) => x.title?.startsWith('Watched tables'));

function freshStore(): string {
  const d = mkdtempSync(join(tmpdir(), 'dbwarden-status-counts-'));
  dirs.push(d);
  return d;
}

beforeAll(seed);
afterAll(async () => {
  for (const s of opened) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('/db-status shows the last watch round’s exact counts', () => {
  it('shows the round’s counts with their age, not counting again; `dbwarden status` (status()) counts live', async () => {
    at('2026-11-24T10:00:30.000Z');
    const store = freshStore();
    const s = await services(store);
    const round = await s.watch();
    expect(round.snapshotKey).not.toBeNull();
    // The data changes after the round: the shown counts are the round's, and say how old they are.
    await db.sql('DELETE FROM users WHERE id <= 40');
    at('2026-11-24T10:03:30.000Z');

    const report = await dbStatus(s);
    expect(watchedLines(report)).toEqual({
      title: 'Watched tables (exact as of the watch 3 min ago)',
      lines: ['users: 100 rows', 'events: 500 rows'],
    });
    const shown = await s.shownStatus();
    expect(shown.counts).toEqual({ source: 'watch', countedAt: '2026-11-24T10:00:30.000Z', ageSeconds: 180 });
    expect(shown.tables.filter((t) => t.watched).map((t) => [t.name, t.rows, t.exact, t.countedAt])).toEqual([
      ['users', 100, true, '2026-11-24T10:00:30.000Z'],
      ['events', 500, true, '2026-11-24T10:00:30.000Z'],
    ]);

    const live = await s.status();
    expect(live.counts).toEqual({ source: 'live', countedAt: '2026-11-24T10:03:30.000Z', ageSeconds: 0 });
    expect(live.tables.find((t) => t.name === 'users')?.rows).toBe(60);

    // Another process on the same store (a replica, a restart) finds the round in the store.
    const replica = await services(store);
    expect((await replica.shownStatus()).counts?.source).toBe('watch');
    expect(watchedLines(await dbStatus(replica))?.lines).toContain('users: 100 rows');
  });

  it('counts live once the round is overdue (the next tick plus a minute), and before the first round', async () => {
    await seed();
    at('2026-11-24T10:00:30.000Z');
    const s = await services(freshStore());
    const first = await s.shownStatus();
    expect(first.counts).toEqual({
      source: 'live',
      countedAt: '2026-11-24T10:00:30.000Z',
      ageSeconds: 0,
      liveBecause: 'no watch round yet',
    });
    await s.watch();
    await db.sql('DELETE FROM users WHERE id <= 40');

    // The 10:05 round is due; until 10:06 it may still be running, so the 10:00 counts stand.
    at('2026-11-24T10:05:59.000Z');
    expect((await s.shownStatus()).counts?.source).toBe('watch');
    at('2026-11-24T10:06:01.000Z');
    const stale = await s.shownStatus();
    expect(stale.counts).toMatchObject({
      source: 'live',
      liveBecause: 'the last watch round is older than the watch interval',
    });
    expect(stale.tables.find((t) => t.name === 'users')).toMatchObject({ rows: 60, exact: true });
    expect(watchedLines(await dbStatus(s))).toEqual({
      title: 'Watched tables',
      lines: ['users: 60 rows', 'events: 500 rows'],
    });

    // A new round brings the shown counts up to date.
    await s.watch();
    at('2026-11-24T10:06:21.000Z');
    expect(watchedLines(await dbStatus(s))).toEqual({
      title: 'Watched tables (exact as of the watch just now)',
      lines: ['users: 60 rows', 'events: 500 rows'],
    });
  });

  it.skipIf(!canControlCluster)(
    'never shows another database’s counts: a round of the database before it was recreated is not used',
    async () => {
      await seed();
      at('2026-11-24T10:00:30.000Z');
      const store = freshStore();
      const before = await services(store);
      await before.watch();
      await before.close();
      opened.splice(opened.indexOf(before), 1);

      // Same address, a brand-new cluster: a new identity, with fewer rows.
      await db.recreate();
      await db.sql(`CREATE TABLE users (id serial PRIMARY KEY); INSERT INTO users SELECT FROM generate_series(1, 7);
        CREATE TABLE events (id serial PRIMARY KEY);`);
      at('2026-11-24T10:01:30.000Z');
      const after = await services(store);
      const s = await after.shownStatus();
      expect(s.counts).toMatchObject({
        source: 'live',
        liveBecause: 'the last watch round was of another database',
      });
      expect(s.tables.filter((t) => t.watched).map((t) => [t.name, t.rows])).toEqual([
        ['users', 7],
        ['events', 0],
      ]);
      expect(watchedLines(await dbStatus(after))?.title).toBe('Watched tables');
    },
  );
});

describe('probeStatus with recent counts (core/status.ts)', () => {
  it('counts now the watched tables the round lacked, and says so; a failing lookup means counting live', async () => {
    await seed();
    const target = createTarget(db.url, {
      environment: 'production',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    try {
      const live = await probeStatus({ target, watchTables: ['users', 'events'] });
      expect(live.counts).toMatchObject({ source: 'live', ageSeconds: 0 });
      expect(live.counts?.liveBecause).toBeUndefined();
      const identity = live.identity!;
      const roundAt = new Date(Date.now() - 120_000).toISOString();
      const mixed = await probeStatus({
        target,
        watchTables: ['users', 'events'],
        recentCounts: async () => ({
          at: roundAt,
          identity,
          validUntil: new Date(Date.now() + 60_000).toISOString(),
          rows: { 'public.users': 99 },
        }),
      });
      expect(mixed.counts).toMatchObject({ source: 'watch', countedAt: roundAt, ageSeconds: 120 });
      expect(watchedLines(statusReport(mixed))).toEqual({
        title: 'Watched tables (exact as of the watch 2 min ago)',
        lines: [
          'users: 99 rows',
          `events: ${live.tables.find((t) => t.name === 'events')!.rows} rows (counted now)`,
        ],
      });

      const failing = await probeStatus({
        target,
        watchTables: ['users', 'events'],
        recentCounts: async () => {
          throw new Error('disk gone');
        },
      });
      expect(failing.reachable).toBe(true);
      expect(failing.counts).toMatchObject({
        source: 'live',
        liveBecause: 'the last watch round could not be read (disk gone)',
      });
      expect(failing.tables.find((t) => t.name === 'users')?.rows).toBe(
        live.tables.find((t) => t.name === 'users')?.rows,
      );
    } finally {
      await target.close();
    }
  });
});
