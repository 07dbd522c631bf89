import type { BlobStore } from '../store/blob-store.js';
import { type BackupManifest, isGood, MANIFEST_PREFIX, manifestKey } from '../store/manifest.js';

/** How many good backups to keep: the newest of each of the last `daily` days, `weekly` weeks, `monthly` months. */
export interface KeepPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionPlan {
  /** Newest first. */
  keep: BackupManifest[];
  /** Newest first. */
  remove: BackupManifest[];
}

/** Failed or unverified backups younger than this stay (a run may still be verifying; people may look). */
export const LEFTOVER_AGE_MS = 24 * 3_600_000;

/**
 * Every good backup this young is kept, whatever the policy: a pre-migration backup must survive the nightly
 * backup of the damaged database taken later the same day.
 */
export const KEEP_RECENT_MS = 48 * 3_600_000;

/**
 * Which backups a keep policy deletes (grandfather-father-son over UTC days, ISO weeks and months, by finishedAt).
 * Of the good backups, it keeps the newest of each of the `daily` most recent days that have one, likewise for
 * weeks and months, and always the newest good backup. Failed or unverified backups are removed once older than
 * a day, and every good backup of the last 48 hours stays. When the newest backup is not good, nothing is removed: backups are broken, so keep everything.
 */
export function planRetention(manifests: BackupManifest[], policy: KeepPolicy, now: Date): RetentionPlan {
  const sorted = [...manifests].sort(newestFirst);
  const newest = sorted[0];
  if (!newest || !isGood(newest)) return { keep: sorted, remove: [] };

  const keep = new Set<BackupManifest>([newest]);
  const good = sorted.filter((m) => isGood(m) && Number.isFinite(finished(m)));
  const windows: [number, (t: Date) => string][] = [
    [policy.daily, dayBucket],
    [policy.weekly, weekBucket],
    [policy.monthly, monthBucket],
  ];
  for (const [count, bucketOf] of windows) {
    const seen = new Set<string>();
    // Newest first, so the first backup met in a bucket is that bucket's newest.
    for (const m of good) {
      const bucket = bucketOf(new Date(finished(m)));
      if (seen.has(bucket)) continue;
      if (seen.size >= count) break;
      seen.add(bucket);
      keep.add(m);
    }
  }
  for (const m of sorted) {
    const t = finished(m);
    // A backup whose time cannot be read is kept: never delete what cannot be dated.
    if (!Number.isFinite(t)) keep.add(m);
    else if (isGood(m) && now.getTime() - t < KEEP_RECENT_MS) keep.add(m);
    else if (!isGood(m) && now.getTime() - t <= LEFTOVER_AGE_MS) keep.add(m);
  }
  return { keep: sorted.filter((m) => keep.has(m)), remove: sorted.filter((m) => !keep.has(m)) };
}

export interface RetentionResult {
  removed: string[];
  failed: { id: string; message: string }[];
}

/**
 * Delete what a plan removes: each dump first, then its manifest, so a backup is never listed without being
 * whole, and a dump whose delete failed keeps its manifest and is tried again next time.
 */
export async function applyRetention(store: BlobStore, plan: RetentionPlan): Promise<RetentionResult> {
  const result: RetentionResult = { removed: [], failed: [] };
  for (const m of plan.remove) {
    try {
      // A manifest only ever owns its own dump: never follow one that points at another object.
      if (m.dumpKey) {
        if (!m.dumpKey.startsWith(`${MANIFEST_PREFIX}${m.id}.`))
          throw new Error(`manifest ${m.id} names a dump that is not its own (${m.dumpKey.slice(0, 80)})`);
        await store.delete(m.dumpKey);
      }
      await store.delete(manifestKey(m.id));
      result.removed.push(m.id);
    } catch (err) {
      result.failed.push({ id: m.id, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return result;
}

function finished(m: BackupManifest): number {
  return Date.parse(m.finishedAt);
}

function newestFirst(a: BackupManifest, b: BackupManifest): number {
  const ta = finished(a);
  const tb = finished(b);
  const byTime = (Number.isFinite(tb) ? tb : -Infinity) - (Number.isFinite(ta) ? ta : -Infinity);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** "2026-11-24" */
export function dayBucket(t: Date): string {
  return t.toISOString().slice(0, 10);
}

/** "2026-11" */
export function monthBucket(t: Date): string {
  return t.toISOString().slice(0, 7);
}

/** ISO 8601 week in UTC, "2026-W48": weeks start on Monday; week 1 holds the year's first Thursday. */
export function weekBucket(t: Date): string {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
