import { compactTime, parseCompactTime, type Snapshot } from '../core/snapshot.js';
import { type BlobStore, readText } from '../store/blob-store.js';

/** Where snapshots live in the store: one JSON file each, named by time so a listing needs no reads. */
export const SNAPSHOT_PREFIX = 'state/snapshots/';

/** Store key of the snapshot taken at `at`. */
export function snapshotKey(at: string): string {
  return `${SNAPSHOT_PREFIX}${compactTime(at)}.json`;
}

/** When the snapshot under `key` was taken (from the key alone); null for foreign keys. */
export function snapshotKeyTime(key: string): Date | null {
  if (!key.startsWith(SNAPSHOT_PREFIX) || !key.endsWith('.json')) return null;
  return parseCompactTime(key.slice(SNAPSHOT_PREFIX.length, -'.json'.length));
}

/** Write a snapshot under a key of its own (never over an older one, e.g. the guard's baseline); returns the key. */
export async function saveSnapshot(store: BlobStore, snap: Snapshot): Promise<string> {
  // Two snapshots in the same millisecond (a stopped test clock, a fast retry) must not overwrite each other.
  while (await store.stat(snapshotKey(snap.at))) snap.at = new Date(Date.parse(snap.at) + 1).toISOString();
  const key = snapshotKey(snap.at);
  await store.put(key, JSON.stringify(snap));
  return key;
}

/** Read one snapshot; null when it is gone or unreadable (a damaged file must not stop the guard). */
export async function loadSnapshot(store: BlobStore, key: string): Promise<Snapshot | null> {
  try {
    const s = JSON.parse(await readText(store, key)) as Snapshot;
    return s && s.v === 1 && s.identity && s.tables ? s : null;
  } catch {
    return null;
  }
}

export interface SnapshotRef {
  key: string;
  at: Date;
}

/** Every stored snapshot, oldest first (from the key names; nothing is read). */
export async function listSnapshots(store: BlobStore): Promise<SnapshotRef[]> {
  const refs: SnapshotRef[] = [];
  for (const b of await store.list(SNAPSHOT_PREFIX)) {
    const at = snapshotKeyTime(b.key);
    if (at) refs.push({ key: b.key, at });
  }
  return refs.sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** The newest snapshot taken at or before `time` (and not older than `maxAgeMs` before it), or null. */
export function nearestBefore(refs: SnapshotRef[], time: Date, maxAgeMs = Infinity): SnapshotRef | null {
  let best: SnapshotRef | null = null;
  for (const r of refs) if (r.at.getTime() <= time.getTime()) best = r;
  if (best && time.getTime() - best.at.getTime() > maxAgeMs) return null;
  return best;
}

/**
 * The newest snapshot, if it was taken of the database at this address (masked display): what dbwarden last saw
 * here. Null when nothing was seen, or the newest is of another address (the demo's, before DATABASE_URL was set).
 */
export async function lastSeenAt(store: BlobStore, display: string): Promise<Snapshot | null> {
  const refs = await listSnapshots(store);
  const newest = refs[refs.length - 1];
  const snap = newest ? await loadSnapshot(store, newest.key) : null;
  return snap && snap.target.display === display ? snap : null;
}

export interface CompactionPolicy {
  /** Keep every snapshot younger than this. */
  keepAllMs: number;
  /** Then keep one snapshot a day (the day's last) for this many days. */
  keepDailyDays: number;
}

export const DEFAULT_COMPACTION: CompactionPolicy = { keepAllMs: 48 * 3_600_000, keepDailyDays: 400 };

/**
 * Which snapshots to delete: everything younger than keepAllMs stays; older ones keep the last of each UTC day
 * until keepDailyDays; older still go. Keys in `protect` (e.g. the guard's baseline) always stay. Pure.
 */
export function compactionPlan(
  refs: SnapshotRef[],
  now: Date,
  policy: CompactionPolicy = DEFAULT_COMPACTION,
  protect: ReadonlySet<string> = new Set(),
): { keep: string[]; remove: string[] } {
  const keep: string[] = [];
  const remove: string[] = [];
  const lastOfDay = new Map<string, SnapshotRef>();
  const dailyHorizon = now.getTime() - policy.keepDailyDays * 86_400_000;
  for (const r of refs) {
    const age = now.getTime() - r.at.getTime();
    if (age < policy.keepAllMs || protect.has(r.key)) continue;
    if (r.at.getTime() < dailyHorizon) continue;
    const day = r.at.toISOString().slice(0, 10);
    const cur = lastOfDay.get(day);
    if (!cur || cur.at.getTime() < r.at.getTime()) lastOfDay.set(day, r);
  }
  const dailyKeys = new Set([...lastOfDay.values()].map((r) => r.key));
  for (const r of refs) {
    const age = now.getTime() - r.at.getTime();
    if (age < policy.keepAllMs || protect.has(r.key) || dailyKeys.has(r.key)) keep.push(r.key);
    else remove.push(r.key);
  }
  return { keep, remove };
}

/** Apply the compaction plan to the store; returns how many snapshots were deleted. */
export async function compactSnapshots(
  store: BlobStore,
  now: Date,
  protect: ReadonlySet<string> = new Set(),
  policy: CompactionPolicy = DEFAULT_COMPACTION,
): Promise<number> {
  const { remove } = compactionPlan(await listSnapshots(store), now, policy, protect);
  for (const key of remove) await store.delete(key);
  return remove.length;
}
