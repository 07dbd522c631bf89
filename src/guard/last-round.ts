import { nextRunAfter } from '../core/cron.js';
import type { Snapshot } from '../core/snapshot.js';
import type { RecentCounts } from '../core/status-counts.js';
import type { BlobStore } from '../store/blob-store.js';
import { loadSnapshot } from './snapshot-history.js';
import { loadWatchState, memoryOf } from './watch-state.js';

/**
 * How long after the next scheduled round the last one still counts: that round needs a moment (the replicas'
 * claim settling, its own count(*)s) before its snapshot replaces this one.
 */
export const ROUND_GRACE_MS = 60_000;

export interface LastRoundDeps {
  store: BlobStore;
  /** The watch's cron and zone: a round's counts are stale once the next round is overdue. */
  watchCron: string;
  timezone: string;
}

/**
 * The exact counts of the watched tables that the last watch round took (this process's, or another replica's from
 * the store), valid until the next round is due plus ROUND_GRACE_MS. Null before the first round. Status decides
 * whether they may stand for now (same database, not stale): core/status.ts.
 */
export function lastRoundCounts(deps: LastRoundDeps): () => Promise<RecentCounts | null> {
  const due = new Map<string, string>();
  const validUntil = (at: string): string => {
    let until = due.get(at);
    if (!until) {
      const next = nextRunAfter(deps.watchCron, deps.timezone, new Date(at));
      // A cron that never fires again: the round is as old as it will ever be valid.
      until = new Date((next?.getTime() ?? Date.parse(at)) + ROUND_GRACE_MS).toISOString();
      due.clear();
      due.set(at, until);
    }
    return until;
  };
  return async () => {
    const snap = await lastRound(deps.store);
    if (!snap) return null;
    const rows: Record<string, number> = {};
    for (const name of snap.watched) {
      const t = snap.tables[name];
      if (t?.exact) rows[name] = t.rows;
    }
    return { at: snap.at, identity: snap.identity, validUntil: validUntil(snap.at), rows };
  };
}

/**
 * The newest round's snapshot: the store's record of it when newer than what this process remembers (another
 * replica watched), else this process's own (also when the store cannot be read).
 */
async function lastRound(store: BlobStore): Promise<Snapshot | null> {
  const mem = memoryOf(store);
  const ref = (await loadWatchState(store).catch(() => null))?.lastRound ?? null;
  const known = mem.lastRound;
  if (ref && (!known || Date.parse(ref.at) > Date.parse(known.at))) {
    const read = await loadSnapshot(store, ref.snapshotKey);
    if (read) mem.lastRound = read;
  }
  return mem.lastRound;
}
