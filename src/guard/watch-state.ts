import type { DbIdentity } from '../core/identity.js';
import type { Snapshot } from '../core/snapshot.js';
import type { WarningCode } from '../core/warning.js';
import { type BlobStore, readText } from '../store/blob-store.js';
import type { BackupManifest } from '../store/manifest.js';
import type { OpenWarning } from './guard.js';
import { listSnapshots, loadSnapshot, type SnapshotRef } from './snapshot-history.js';

// What the watch remembers between rounds: in the store, and in this process while the store refuses.

/** What the watch remembers between runs (in the store, so replicas and restarts share it). */
export interface WatchState {
  v: 1;
  /** The last snapshot taken while no data-loss warning was open: what "before" means. */
  baselineKey: string | null;
  failedChecks: number;
  unreachableSince: string | null;
  open: Partial<Record<WarningCode, OpenWarning>>;
  accepted: { identity: DbIdentity; at: string; by: string } | null;
  /** The last round's snapshot: its exact counts stand in for counting again (see guard/last-round.ts). */
  lastRound: { at: string; snapshotKey: string } | null;
}

export const WATCH_STATE_KEY = 'state/guard/watch.json';

export const emptyState = (): WatchState => ({
  v: 1,
  baselineKey: null,
  failedChecks: 0,
  unreachableSince: null,
  open: {},
  accepted: null,
  lastRound: null,
});

/**
 * What this process knows beyond the store, per store: the watch state while it could not be saved (newer than the
 * store's copy, so a full store does not make the guard post the same warning every round), and the last backups
 * and baseline it read (so an unreadable store does not blind the guard).
 */
export interface Remembered {
  state: WatchState | null;
  unsaved: boolean;
  manifests: BackupManifest[] | null;
  baseline: Snapshot | null;
  /** The newest watch round's snapshot this process took or read (a store that refuses writes still has it). */
  lastRound: Snapshot | null;
}
const remembered = new WeakMap<BlobStore, Remembered>();
export const memoryOf = (store: BlobStore): Remembered => {
  const m = remembered.get(store) ?? {
    state: null,
    unsaved: false,
    manifests: null,
    baseline: null,
    lastRound: null,
  };
  remembered.set(store, m);
  return m;
};
export const copy = (s: WatchState): WatchState => structuredClone(s);

/** The watch state, or a fresh one; this process's unsaved state when the store refused the last save. */
export async function loadWatchState(store: BlobStore): Promise<WatchState> {
  const mem = memoryOf(store);
  if (mem.unsaved && mem.state) return copy(mem.state);
  if (!(await store.stat(WATCH_STATE_KEY))) return emptyState();
  try {
    return { ...emptyState(), ...(JSON.parse(await readText(store, WATCH_STATE_KEY)) as WatchState) };
  } catch {
    return emptyState();
  }
}

/** Save the state; when the store refuses, this process keeps it (see Remembered) and the error is thrown. */
export async function saveWatchState(store: BlobStore, state: WatchState): Promise<void> {
  const mem = memoryOf(store);
  mem.state = copy(state);
  mem.unsaved = true;
  await store.put(WATCH_STATE_KEY, JSON.stringify(state, null, 1));
  mem.unsaved = false;
}

const stateLocks = new WeakMap<BlobStore, Promise<unknown>>();

/** Serialise read-modify-write of the watch state in this process (watch rounds, accept, the backup job's notes). */
export function withStateLock<T>(store: BlobStore, fn: () => Promise<T>): Promise<T> {
  const run = (stateLocks.get(store) ?? Promise.resolve()).then(fn, fn);
  stateLocks.set(
    store,
    run.catch(() => {}),
  );
  return run;
}

/**
 * What "before" means for the guard and for deploy checks: the baseline the watch keeps (the last snapshot taken
 * while the data looked right), else the newest snapshot (before the first round), else nothing.
 */
export async function baselineSnapshot(
  store: BlobStore,
  state?: WatchState,
  refs?: SnapshotRef[],
): Promise<Snapshot | null> {
  const { baselineKey } = state ?? (await loadWatchState(store));
  const fromState = baselineKey ? await loadSnapshot(store, baselineKey) : null;
  if (fromState) return fromState;
  const all = refs ?? (await listSnapshots(store));
  const last = all[all.length - 1];
  return last ? await loadSnapshot(store, last.key) : null;
}
