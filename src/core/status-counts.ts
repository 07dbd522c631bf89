import { type DbIdentity, sameIdentity } from './identity.js';

// Status may show exact counts an earlier reading took (the last watch round) instead of counting again: the rule
// for when they may stand for the database now, and how a reading says where its counts came from.

/**
 * Exact row counts of watched tables that an earlier reading took (the last watch round), offered to status so it
 * need not count again. Status uses them only for the same database and until `validUntil`.
 */
export interface RecentCounts {
  /** When they were counted. */
  at: string;
  /** The database they were counted in. */
  identity: DbIdentity;
  /** After this, the counts are stale (the next round should have replaced them): status counts live. */
  validUntil: string;
  /** "schema.table" → exact rows; a watched table not here is counted by the reading itself. */
  rows: Record<string, number>;
}

/** Where a reading's exact counts of the watched tables came from, and how old they are. */
export interface CountsSource {
  /** live: counted by this reading; watch: taken from the last watch round (tables it lacked counted live). */
  source: 'live' | 'watch';
  /** When the counts were taken (the reading's own time when live). */
  countedAt: string;
  ageSeconds: number;
  /** Why counts were counted live although recent ones were asked for (none yet, stale, another database…). */
  liveBecause?: string;
}

/**
 * The recent counts if they may stand for this database now: same identity (never another database's rows), not
 * stale, not from the future. Otherwise why not, in words (the reading then counts live).
 */
export function usableCounts(
  recent: RecentCounts | null | string,
  identity: DbIdentity,
  now: Date,
): RecentCounts | string {
  if (typeof recent === 'string') return recent;
  if (!recent) return 'no watch round yet';
  if (!sameIdentity(recent.identity, identity)) return 'the last watch round was of another database';
  if (now.getTime() > Date.parse(recent.validUntil))
    return 'the last watch round is older than the watch interval';
  if (Date.parse(recent.at) > now.getTime()) return 'the last watch round is dated in the future';
  return recent;
}

export function liveBecause(recent: RecentCounts | string | null): { liveBecause?: string } {
  if (recent === null) return {};
  return {
    liveBecause: typeof recent === 'string' ? recent : 'the last watch round counted none of these tables',
  };
}

/** Give watched tables the round's exact counts; returns how many it had. The rest stay to be counted now. */
export function applyRecentCounts(
  watched: { schema: string; name: string; rows: number; exact: boolean; countedAt?: string }[],
  recent: RecentCounts,
): number {
  let taken = 0;
  for (const t of watched) {
    const rows = recent.rows[`${t.schema}.${t.name}`];
    if (rows === undefined) continue;
    t.rows = rows;
    t.exact = true;
    t.countedAt = recent.at;
    taken++;
  }
  return taken;
}
