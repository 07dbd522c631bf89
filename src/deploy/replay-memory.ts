import { createHash } from 'node:crypto';
import type { Logger } from '../core/log.js';
import type { BlobStore } from '../store/blob-store.js';

/** Where deploy deliveries already acted on are remembered: one small object per delivery. */
export const DELIVERIES_PREFIX = 'state/deliveries/';

/** Remembers which deliveries ran, across restarts and replicas sharing the store. */
export interface ReplayMemory {
  /** True when `key` was seen within the memory; otherwise records it (and returns false). */
  seen(key: string): Promise<boolean>;
}

export interface ReplayMemoryDeps {
  /** null: remembered in this process only (no store could be opened). */
  store: BlobStore | null;
  clock: () => Date;
  /** How long a delivery is remembered; older markers are deleted. */
  keepMs: number;
  logger?: Logger;
  /** Shortest time between two clean-ups of expired markers (default 1 h). */
  pruneEveryMs?: number;
}

/** The store key of a delivery: a hash, so any key is a safe, fixed-length name. */
export function deliveryKey(key: string): string {
  return `${DELIVERIES_PREFIX}${createHash('sha256').update(key).digest('hex').slice(0, 40)}.json`;
}

/**
 * Replay memory in the store, with this process's recent keys in front of it: two copies arriving at once
 * here cannot both pass. A store that cannot be read or written is logged and the delivery still runs: a
 * deploy check never depends on remembering (house rule 12).
 */
export function createReplayMemory(deps: ReplayMemoryDeps): ReplayMemory {
  const recent = new Map<string, number>();
  const pruneEveryMs = deps.pruneEveryMs ?? 3_600_000;
  let lastPrune = 0;

  async function prune(now: number): Promise<void> {
    if (!deps.store || now - lastPrune < pruneEveryMs) return;
    lastPrune = now;
    for (const [k, at] of recent) if (at < now - deps.keepMs) recent.delete(k);
    for (const b of await deps.store.list(DELIVERIES_PREFIX))
      if (b.modified.getTime() < now - deps.keepMs) await deps.store.delete(b.key);
  }

  return {
    async seen(key) {
      const now = deps.clock().getTime();
      const name = deliveryKey(key);
      const at = recent.get(name);
      if (at !== undefined && at >= now - deps.keepMs) return true;
      recent.set(name, now);
      if (recent.size > 5000) recent.delete(recent.keys().next().value as string);
      if (!deps.store) return false;
      try {
        const marker = await deps.store.stat(name);
        if (marker && marker.modified.getTime() >= now - deps.keepMs) return true;
        await deps.store.put(name, `${JSON.stringify({ at: new Date(now).toISOString() })}\n`);
        await prune(now);
      } catch (err) {
        deps.logger?.warn(
          { err: String(err) },
          'deploy webhook: the store could not remember this delivery; replays are caught by this process only',
        );
      }
      return false;
    },
  };
}
