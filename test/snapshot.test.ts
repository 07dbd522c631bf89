import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Snapshot, snapshotFromStatus } from '../src/core/snapshot.js';
import type { DbStatus } from '../src/core/status.js';
import {
  compactionPlan,
  compactSnapshots,
  listSnapshots,
  loadSnapshot,
  nearestBefore,
  type SnapshotRef,
  saveSnapshot,
  snapshotKey,
  snapshotKeyTime,
} from '../src/guard/snapshot-history.js';
import { createFileStore } from '../src/store/file-store.js';

const H = 3_600_000;
const D = 24 * H;
const dirs: string[] = [];
const tempStore = () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-snap-'));
  dirs.push(dir);
  return createFileStore(dir);
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const refsEvery = (from: Date, to: Date, stepMs: number): SnapshotRef[] => {
  const out: SnapshotRef[] = [];
  for (let t = from.getTime(); t <= to.getTime(); t += stepMs) {
    const at = new Date(t);
    out.push({ key: snapshotKey(at.toISOString()), at });
  }
  return out;
};

const status = (over: Partial<DbStatus> = {}): DbStatus => ({
  target: { name: 'app', environment: 'production', display: 'postgres://app@db:5432/app' },
  checkedAt: '2026-11-24T03:00:00.000Z',
  reachable: true,
  error: null,
  serverVersion: '15.6',
  serverVersionNum: 150006,
  sizeBytes: 9_000_000,
  tableCount: 2,
  tables: [
    { schema: 'public', name: 'auth_user', rows: 40, exact: true, watched: true, sizeBytes: 8192 },
    { schema: 'public', name: 'log', rows: 1000, exact: false, watched: false, sizeBytes: 81920 },
  ],
  identity: { systemIdentifier: '7301000000000009924', databaseOid: 16384, databaseName: 'app' },
  migrations: null,
  lastBackup: null,
  warnings: [],
  timings: {},
  ...over,
});

describe('snapshot', () => {
  it('keeps identity, size, exact watched rows and estimates of the rest', () => {
    const s = snapshotFromStatus(status())!;
    expect(s.identity.databaseOid).toBe(16384);
    expect(s.sizeBytes).toBe(9_000_000);
    expect(s.watched).toEqual(['public.auth_user']);
    expect(s.tables['public.auth_user']).toEqual({ rows: 40, exact: true, sizeBytes: 8192 });
    expect(s.tables['public.log']).toEqual({ rows: 1000, exact: false, sizeBytes: 81920 });
  });

  it('is null for an unreachable database (nothing to remember)', () => {
    expect(snapshotFromStatus(status({ reachable: false, identity: null, sizeBytes: null }))).toBeNull();
  });

  it('never overwrites an earlier snapshot taken in the same millisecond', async () => {
    const store = tempStore();
    const first = await saveSnapshot(store, snapshotFromStatus(status())!);
    const second = await saveSnapshot(store, { ...snapshotFromStatus(status())!, sizeBytes: 1 });
    expect(second).not.toBe(first);
    expect((await loadSnapshot(store, first))?.sizeBytes).toBe(9_000_000);
    expect((await loadSnapshot(store, second))?.sizeBytes).toBe(1);
  });

  it('round-trips through the store under a time-sorted key', async () => {
    const store = tempStore();
    const a = snapshotFromStatus(status())!;
    const b: Snapshot = { ...a, at: '2026-11-24T03:05:00.000Z' };
    const keyB = await saveSnapshot(store, b);
    await saveSnapshot(store, a);
    expect(keyB).toBe('state/snapshots/20261124T030500000Z.json');
    expect(snapshotKeyTime(keyB)?.toISOString()).toBe(b.at);
    const refs = await listSnapshots(store);
    expect(refs.map((r) => r.at.toISOString())).toEqual([a.at, b.at]);
    expect(await loadSnapshot(store, keyB)).toEqual(b);
    expect(await loadSnapshot(store, 'state/snapshots/nope.json')).toBeNull();
    expect(nearestBefore(refs, new Date('2026-11-24T03:04:00Z'))?.key).toBe(snapshotKey(a.at));
    expect(nearestBefore(refs, new Date('2026-11-24T02:00:00Z'))).toBeNull();
    expect(nearestBefore(refs, new Date('2026-11-25T03:04:00Z'), H)).toBeNull();
  });
});

describe('compaction plan', () => {
  const now = new Date('2026-11-24T12:00:00Z');

  it('keeps every snapshot of the last 48 h', () => {
    const refs = refsEvery(new Date(now.getTime() - 47 * H), now, 5 * 60_000);
    const plan = compactionPlan(refs, now);
    expect(plan.remove).toEqual([]);
    expect(plan.keep).toHaveLength(refs.length);
  });

  it('keeps the last snapshot of each older day, and nothing beyond 400 days', () => {
    const refs = refsEvery(new Date(now.getTime() - 410 * D), now, H);
    const plan = compactionPlan(refs, now);
    const kept = plan.keep.map((k) => snapshotKeyTime(k)!);
    const old = kept.filter((t) => now.getTime() - t.getTime() >= 48 * H);
    // One per UTC day, and it is that day's last (23:00 on an hourly series).
    const days = new Set(old.map((t) => t.toISOString().slice(0, 10)));
    expect(days.size).toBe(old.length);
    expect(old.every((t) => t.getUTCHours() === 23 || now.getTime() - t.getTime() < 49 * H)).toBe(true);
    expect(old.every((t) => now.getTime() - t.getTime() <= 400 * D)).toBe(true);
    expect(old.length).toBeGreaterThanOrEqual(397);
    expect(old.length).toBeLessThanOrEqual(400);
    expect(plan.keep.length + plan.remove.length).toBe(refs.length);
  });

  it('never removes a protected snapshot', () => {
    const refs = refsEvery(new Date(now.getTime() - 5 * D), new Date(now.getTime() - 4 * D), H);
    const protectedKey = refs[3]!.key;
    const plan = compactionPlan(refs, now, undefined, new Set([protectedKey]));
    expect(plan.keep).toContain(protectedKey);
  });

  it('deletes what the plan says from a real store', async () => {
    const store = tempStore();
    const base = snapshotFromStatus(status())!;
    for (const ref of refsEvery(new Date(now.getTime() - 4 * D), now, 6 * H))
      await saveSnapshot(store, { ...base, at: ref.at.toISOString() });
    const before = await listSnapshots(store);
    const removed = await compactSnapshots(store, now);
    const after = await listSnapshots(store);
    expect(removed).toBe(before.length - after.length);
    expect(removed).toBeGreaterThan(0);
    expect(after.filter((r) => now.getTime() - r.at.getTime() >= 48 * H).length).toBe(
      new Set(
        after
          .filter((r) => now.getTime() - r.at.getTime() >= 48 * H)
          .map((r) => r.at.toISOString().slice(0, 10)),
      ).size,
    );
  });
});
