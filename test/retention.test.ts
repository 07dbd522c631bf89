import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  applyRetention,
  dayBucket,
  KEEP_RECENT_MS,
  LEFTOVER_AGE_MS,
  monthBucket,
  planRetention,
  weekBucket,
} from '../src/backup/retention.js';
import type { BlobStore } from '../src/store/blob-store.js';
import { createFileStore } from '../src/store/file-store.js';
import { type BackupManifest, isGood, manifestKey } from '../src/store/manifest.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function manifest(
  id: string,
  finishedAt: Date,
  status: 'complete' | 'failed',
  verified: boolean,
): BackupManifest {
  return {
    id,
    target: { name: 'app', environment: 'production', display: 'postgres://app@db:5432/app' },
    status,
    startedAt: new Date(finishedAt.getTime() - 60_000).toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: 60_000,
    dumpKey: `backups/${id}.dump`,
    sizeBytes: 1000,
    sha256: status === 'complete' ? 'ab'.repeat(32) : '',
    format: 'custom',
    pgDumpVersion: '15.8',
    serverVersion: '15.8',
    identity: null,
    tables: { 'public.users': 3 },
    requestedBy: 'schedule',
    verified,
    verifiedAt: verified ? finishedAt.toISOString() : null,
    drill: null,
  };
}

const idOf = (t: Date, n: number) =>
  `${t
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${n.toString(16).padStart(4, '0')}`;
const ids = (ms: BackupManifest[]) => ms.map((m) => m.id);

describe('calendar buckets (UTC)', () => {
  test('ISO weeks start on Monday and belong to the year of their Thursday', () => {
    expect(weekBucket(new Date('2026-01-01T00:00:00Z'))).toBe('2026-W01');
    expect(weekBucket(new Date('2024-12-30T10:00:00Z'))).toBe('2025-W01');
    expect(weekBucket(new Date('2021-01-03T23:59:59Z'))).toBe('2020-W53');
    expect(weekBucket(new Date('2026-11-22T23:59:59Z'))).toBe('2026-W47');
    expect(weekBucket(new Date('2026-11-23T00:00:00Z'))).toBe('2026-W48');
    expect(dayBucket(new Date('2026-11-23T23:30:00-02:00'))).toBe('2026-11-24');
    expect(monthBucket(new Date('2026-12-01T00:30:00+01:00'))).toBe('2026-11');
  });
});

describe('planRetention', () => {
  test('60 nightly backups under 7 daily, 4 weekly, 6 monthly keep the expected eleven', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    const history = Array.from({ length: 60 }, (_, i) => {
      const t = new Date(Date.UTC(2026, 10, 24 - i, 3));
      return manifest(idOf(t, i), t, 'complete', true);
    });
    const plan = planRetention(history, { daily: 7, weekly: 4, monthly: 6 }, now);
    expect(plan.keep.map((m) => m.finishedAt.slice(0, 10))).toEqual([
      ...['24', '23', '22', '21', '20', '19', '18'].map((d) => `2026-11-${d}`), // daily
      '2026-11-15', // weekly: W46 (W48 and W47 are 11-24 and 11-22)
      '2026-11-08', // weekly: W45
      '2026-10-31', // monthly: October
      '2026-09-30', // monthly: September (August has none)
    ]);
    expect(plan.remove).toHaveLength(49);
  });

  test('a failed newest backup stops all deleting, even of old leftovers', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    const history = [
      manifest('a', new Date('2026-11-24T03:00:00Z'), 'failed', false),
      manifest('b', new Date('2026-11-20T03:00:00Z'), 'failed', false),
      ...Array.from({ length: 20 }, (_, i) =>
        manifest(`g${i}`, new Date(Date.UTC(2026, 10, 19 - i, 3)), 'complete', true),
      ),
    ];
    expect(planRetention(history, { daily: 1, weekly: 0, monthly: 0 }, now).remove).toEqual([]);
  });

  test('failed and unverified leftovers go once a day old; younger ones stay', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    const good = manifest('good', new Date('2026-11-24T11:00:00Z'), 'complete', true);
    const young = manifest('young', new Date(now.getTime() - LEFTOVER_AGE_MS + 60_000), 'failed', false);
    const old = manifest('old', new Date(now.getTime() - LEFTOVER_AGE_MS - 60_000), 'failed', false);
    const unverified = manifest('unverified', new Date('2026-11-20T03:00:00Z'), 'complete', false);
    const plan = planRetention([old, good, unverified, young], { daily: 7, weekly: 4, monthly: 6 }, now);
    expect(ids(plan.keep)).toEqual(['good', 'young']);
    expect(ids(plan.remove)).toEqual(['old', 'unverified']);
  });

  test('an empty history plans nothing', () => {
    expect(planRetention([], { daily: 7, weekly: 4, monthly: 6 }, new Date())).toEqual({
      keep: [],
      remove: [],
    });
  });
});

describe('planRetention properties over random histories', () => {
  const policyArb = fc.record({
    daily: fc.integer({ min: 1, max: 10 }),
    weekly: fc.integer({ min: 0, max: 6 }),
    monthly: fc.integer({ min: 0, max: 8 }),
  });
  const entryArb = fc.record({
    // Mostly whole hours apart (nightly-ish runs), up to ~16 months back, a few slightly in the future (clock skew).
    ageMs: fc.oneof(
      fc.integer({ min: -2, max: 500 * 24 }).map((h) => h * HOUR),
      fc.integer({ min: -2 * HOUR, max: 500 * DAY }),
    ),
    status: fc.constantFrom<'complete' | 'failed'>('complete', 'complete', 'complete', 'failed'),
    verified: fc.boolean(),
  });
  const historyArb = fc.record({
    now: fc.date({
      min: new Date('2024-01-01T00:00:00Z'),
      max: new Date('2030-12-31T00:00:00Z'),
      noInvalidDate: true,
    }),
    entries: fc.array(entryArb, { maxLength: 80 }),
    policy: policyArb,
  });
  const build = (now: Date, entries: { ageMs: number; status: 'complete' | 'failed'; verified: boolean }[]) =>
    entries.map((e, i) => {
      const t = new Date(now.getTime() - e.ageMs);
      // Failed runs are never verified; complete ones may not be yet.
      return manifest(idOf(t, i), t, e.status, e.status === 'complete' && e.verified);
    });
  const newestFirst = (ms: BackupManifest[]) =>
    [...ms].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt) || b.id.localeCompare(a.id));
  const runs = { numRuns: 400 };

  test('keep and remove split the history exactly', () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        const plan = planRetention(history, policy, now);
        expect([...ids(plan.keep), ...ids(plan.remove)].sort()).toEqual(ids(history).sort());
      }),
      runs,
    );
  });

  test('the newest good backup is never removed', () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        const newestGood = newestFirst(history).find(isGood);
        const plan = planRetention(history, policy, now);
        if (newestGood) expect(ids(plan.keep)).toContain(newestGood.id);
      }),
      runs,
    );
  });

  test('nothing is removed when the newest backup is not good', () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        const newest = newestFirst(history)[0];
        fc.pre(newest !== undefined && !isGood(newest));
        expect(planRetention(history, policy, now).remove).toEqual([]);
      }),
      runs,
    );
  });

  test('failed and unverified backups go exactly when older than a day (given a good newest)', () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        const newest = newestFirst(history)[0];
        fc.pre(newest !== undefined && isGood(newest));
        const removed = new Set(ids(planRetention(history, policy, now).remove));
        for (const m of history.filter((x) => !isGood(x))) {
          const old = now.getTime() - Date.parse(m.finishedAt) > LEFTOVER_AGE_MS;
          expect(removed.has(m.id), `${m.id} old=${old}`).toBe(old);
        }
      }),
      runs,
    );
  });

  test("good backups are kept exactly when newest of one of the policy's most recent days, weeks or months", () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        const plan = planRetention(history, policy, now);
        const kept = new Set(ids(plan.keep));
        const good = newestFirst(history).filter(isGood);
        const windows: [number, (t: Date) => string][] = [
          [policy.daily, dayBucket],
          [policy.weekly, weekBucket],
          [policy.monthly, monthBucket],
        ];
        const inWindow = new Set<string>();
        for (const [count, bucketOf] of windows) {
          const bucket = (m: BackupManifest) => bucketOf(new Date(m.finishedAt));
          for (const m of good) {
            const b = bucket(m);
            const newestOfBucket = good.find((x) => bucket(x) === b) === m;
            // Bucket names sort by time, so "newer buckets" are the greater names.
            const newerBuckets = new Set(good.map(bucket).filter((x) => x > b)).size;
            if (newestOfBucket && newerBuckets < count) inWindow.add(m.id);
          }
        }
        // The last 48 hours are kept whole: a pre-migration backup outlives the nightly one after it.
        for (const m of good)
          if (now.getTime() - Date.parse(m.finishedAt) < KEEP_RECENT_MS) inWindow.add(m.id);
        for (const id of inWindow) expect(kept.has(id), `${id} is in a window`).toBe(true);
        // With a good newest backup, no other good backup survives.
        if (history.length > 0 && isGood(newestFirst(history)[0]!))
          for (const m of good) expect(kept.has(m.id), `${m.id} kept`).toBe(inWindow.has(m.id));
      }),
      runs,
    );
  });

  test('good backups beyond the policy are removed: at most daily + weekly + monthly good ones stay', () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        fc.pre(history.length > 0 && isGood(newestFirst(history)[0]!));
        const keptGood = planRetention(history, policy, now).keep.filter(isGood);
        const recent = keptGood.filter((m) => now.getTime() - Date.parse(m.finishedAt) < KEEP_RECENT_MS);
        expect(keptGood.length - recent.length).toBeLessThanOrEqual(
          policy.daily + policy.weekly + policy.monthly,
        );
      }),
      runs,
    );
  });

  test('planning again over what was kept removes nothing more', () => {
    fc.assert(
      fc.property(historyArb, ({ now, entries, policy }) => {
        const history = build(now, entries);
        const first = planRetention(history, policy, now);
        expect(planRetention(first.keep, policy, now).remove).toEqual([]);
      }),
      runs,
    );
  });
});

describe('applyRetention', () => {
  const root = mkdtempSync(join(tmpdir(), 'dbwarden-retention-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** The file store, recording deletes in order and failing those named in `failOn`. */
  function recordingStore(failOn: string[] = []) {
    const inner = createFileStore(mkdtempSync(join(root, 'store-')));
    const deletes: string[] = [];
    const store: BlobStore = {
      ...inner,
      location: inner.location,
      async delete(key) {
        if (failOn.includes(key)) throw new Error(`disk said no to ${key}`);
        deletes.push(key);
        await inner.delete(key);
      },
    };
    return { store, deletes };
  }

  async function seed(store: BlobStore, ms: BackupManifest[]) {
    for (const m of ms) {
      await store.put(m.dumpKey, `dump of ${m.id}`);
      await store.put(manifestKey(m.id), JSON.stringify(m));
    }
  }

  test('deletes each removed dump, then its manifest, and leaves the kept ones', async () => {
    const { store, deletes } = recordingStore();
    const [a, b, c] = ['20261124T030000Z-aa', '20261123T030000Z-bb', '20261122T030000Z-cc'].map((id, i) =>
      manifest(id, new Date(Date.UTC(2026, 10, 24 - i, 3)), 'complete', true),
    ) as [BackupManifest, BackupManifest, BackupManifest];
    await seed(store, [a, b, c]);
    const result = await applyRetention(store, { keep: [a], remove: [b, c] });
    expect(result).toEqual({ removed: [b.id, c.id], failed: [] });
    expect(deletes).toEqual([b.dumpKey, manifestKey(b.id), c.dumpKey, manifestKey(c.id)]);
    expect((await store.list('backups/')).map((o) => o.key)).toEqual([a.dumpKey, manifestKey(a.id)]);
  });

  test('a dump that cannot be deleted keeps its manifest, so the next run tries again', async () => {
    const b = manifest('20261123T030000Z-bb', new Date('2026-11-23T03:00:00Z'), 'complete', true);
    const c = manifest('20261122T030000Z-cc', new Date('2026-11-22T03:00:00Z'), 'complete', true);
    const { store } = recordingStore([b.dumpKey]);
    await seed(store, [b, c]);
    const result = await applyRetention(store, { keep: [], remove: [b, c] });
    expect(result.removed).toEqual([c.id]);
    expect(result.failed).toEqual([{ id: b.id, message: `disk said no to ${b.dumpKey}` }]);
    expect((await store.list('backups/')).map((o) => o.key)).toEqual([b.dumpKey, manifestKey(b.id)]);
  });

  test('never deletes an object a manifest names that is not its own dump', async () => {
    const { store } = recordingStore();
    const other = manifest('20261124T030000Z-aa', new Date('2026-11-24T03:00:00Z'), 'complete', true);
    const bad = { ...manifest('20261101T030000Z-zz', new Date('2026-11-01T03:00:00Z'), 'failed', false) };
    await seed(store, [other]);
    await store.put(manifestKey(bad.id), '{}');
    bad.dumpKey = other.dumpKey;
    const result = await applyRetention(store, { keep: [other], remove: [bad] });
    expect(result.removed).toEqual([]);
    expect(result.failed[0]?.message).toMatch(/not its own/);
    expect(await store.stat(other.dumpKey)).not.toBeNull();
  });
});
