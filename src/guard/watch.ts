import { DbwardenError, type ErrorCode } from '../core/errors.js';
import type { DbIdentity } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import type { Notifier } from '../core/notifier.js';
import type { Report } from '../core/report.js';
import { type Snapshot, snapshotFromStatus } from '../core/snapshot.js';
import type { DbStatus } from '../core/status.js';
import { DATA_LOSS, type Warning, type WarningCode } from '../core/warning.js';
import type { BlobStore } from '../store/blob-store.js';
import { createCatalog, newestGoodOf } from '../store/catalog.js';
import { type GuardConfig, guard, guardedIdentity, type OpenWarning } from './guard.js';
import {
  compactSnapshots,
  listSnapshots,
  loadSnapshot,
  nearestBefore,
  saveSnapshot,
} from './snapshot-history.js';
import { type StoreProblem, storeFailingWarning } from './store-failing.js';
import { resolvedReport, warningsReport } from './warning-report.js';
import {
  baselineSnapshot,
  copy,
  emptyState,
  loadWatchState,
  memoryOf,
  saveWatchState,
  withStateLock,
} from './watch-state.js';

/** Warnings about the data itself (defined with the warning codes, re-exported for the watch's readers). */
export { DATA_LOSS };
/** An open warning is posted again after this long, so it is not forgotten, but never more often. */
export const REMIND_AFTER_MS = 24 * 3_600_000;

export interface WatchDeps {
  store: BlobStore;
  probe: () => Promise<DbStatus>;
  notifier: Notifier;
  guardConfig: GuardConfig;
  clock: () => Date;
  timezone: string;
  logger?: Logger;
}

export interface PostedWarning {
  code: WarningCode;
  kind: 'new' | 'reminder' | 'resolved';
}

export interface WatchResult {
  reachable: boolean;
  warnings: Warning[];
  posted: PostedWarning[];
  snapshotKey: string | null;
}

/**
 * One round of the watch: probe, remember a snapshot, compare with the baseline, post what is new (and what
 * cleared) once. Open warnings live in the store so a warning is not posted again every few minutes.
 */
export function watchOnce(deps: WatchDeps): Promise<WatchResult> {
  return withStateLock(deps.store, () => watchRound(deps));
}

async function watchRound(deps: WatchDeps): Promise<WatchResult> {
  const { store, clock } = deps;
  const mem = memoryOf(store);
  // Every store call may fail (full disk, keys rejected, no answer): the round still judges and posts.
  const problems: StoreProblem[] = [];
  const attempt = async <T>(action: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    // A store that did not answer once this round is not asked again: the round ends in seconds, not minutes.
    const silent = problems.find((p) => (p.err as { code?: string }).code === 'store-unreachable');
    if (silent) {
      problems.push({ action, err: silent.err });
      return fallback;
    }
    try {
      return await fn();
    } catch (err) {
      problems.push({ action, err });
      deps.logger?.error({ err: String(err), store: store.location }, `watch: could not ${action}`);
      return fallback;
    }
  };
  const status = await deps.probe();
  const now = clock();
  const state = await attempt(
    'read the open warnings',
    () => loadWatchState(store),
    mem.state ?? emptyState(),
  );
  const read = await attempt('read the backups', () => createCatalog(store).list(), null);
  if (read) mem.manifests = read;
  const manifests = read ?? mem.manifests ?? [];
  const refs = await attempt('list the snapshots', () => listSnapshots(store), []);

  const previous = await attempt(
    'read the baseline snapshot',
    async () => {
      const b = await baselineSnapshot(store, state, refs);
      mem.baseline = b;
      return b;
    },
    mem.baseline,
  );

  const snap = snapshotFromStatus(status);
  if (snap) {
    state.failedChecks = 0;
    state.unreachableSince = null;
  } else {
    state.failedChecks += 1;
    state.unreachableSince ??= status.checkedAt;
  }

  const current = snap ?? {
    unreachable: status.error ?? { code: 'unreachable-other', message: 'no answer' },
    failedChecks: state.failedChecks,
    since: state.unreachableSince ?? status.checkedAt,
  };
  const good = newestGoodOf(manifests, guardedIdentity({ previous, current }));
  const nearBackup = good ? nearestBefore(refs, new Date(good.startedAt), 24 * 3_600_000) : null;
  const atBackup = nearBackup
    ? await attempt('read a snapshot', () => loadSnapshot(store, nearBackup.key), null)
    : null;
  const backupsUnknown = read === null && mem.manifests === null;

  const warnings = guard({
    previous,
    current,
    unreachableOpen: Boolean(state.open.unreachable),
    rowsDroppedOpen: Boolean(state.open['rows-dropped']),
    manifests,
    backupsUnknown,
    atBackup,
    config: deps.guardConfig,
    now,
  });

  const conditions = warnings.filter((w) => w.level !== 'ok');
  const raised = new Map(conditions.map((w) => [w.code, w]));
  const fresh: Warning[] = [];
  const reminders: Warning[] = [];
  for (const w of conditions) {
    const open = state.open[w.code];
    if (!open) fresh.push(w);
    else if (now.getTime() - Date.parse(open.lastPostedAt) >= REMIND_AFTER_MS) reminders.push(w);
  }
  const cleared = Object.values(state.open).filter(
    (o) =>
      o &&
      !raised.has(o.code) &&
      // Judged after the saves below.
      o.code !== 'store-failing' &&
      // Unreachable, we cannot tell whether the data came back: data-loss warnings stay open.
      (snap !== null || !DATA_LOSS.has(o.code)) &&
      // Backups unreadable: whether they are still failing or stale is unknown.
      !(backupsUnknown && o.code.startsWith('backup-')),
  ) as OpenWarning[];
  const events = warnings.filter((w) => w.level === 'ok');

  const posted: PostedWarning[] = [];
  const post = async (report: Report): Promise<boolean> => {
    try {
      await deps.notifier.post(report);
      return true;
    } catch (err) {
      // Not recorded as posted: the next round tries again.
      deps.logger?.error({ err: String(err), title: report.title }, 'could not post the guard report');
      return false;
    }
  };
  // When each warning opened: a reminder keeps its first post's, a new one opens now. The buttons name it, so a press
  // on this message acts on this occurrence only (guard/warning-report.ts warningRef).
  const since = (w: Warning) => state.open[w.code]?.since ?? now.toISOString();
  const ctx = { target: status.target, timezone: deps.timezone, now, since };
  const opened = (w: Warning) => {
    state.open[w.code] = {
      code: w.code,
      level: w.level,
      title: w.title,
      since: since(w),
      lastPostedAt: now.toISOString(),
    };
    posted.push({ code: w.code, kind: 'new' });
  };
  if (fresh.length + reminders.length > 0) {
    if (
      await post(
        warningsReport(
          [...fresh, ...reminders],
          ctx,
          reminders.map((w) => w.code),
        ),
      )
    ) {
      for (const w of fresh) opened(w);
      for (const w of reminders) {
        state.open[w.code]!.lastPostedAt = now.toISOString();
        posted.push({ code: w.code, kind: 'reminder' });
      }
    }
  }
  if (cleared.length > 0) {
    if (await post(resolvedReport(cleared, events, ctx))) {
      for (const o of cleared) {
        delete state.open[o.code];
        posted.push({ code: o.code, kind: 'resolved' });
      }
    }
  }

  // Remembering comes after posting: a store that cannot be written never keeps a warning from the channel.
  const snapshotKey = snap ? await attempt('save the snapshot', () => saveSnapshot(store, snap), null) : null;
  if (snap) {
    mem.lastRound = snap;
    if (snapshotKey) state.lastRound = { at: snap.at, snapshotKey };
  }
  // The baseline moves on only while the data looks right, so damage stays visible until fixed or accepted.
  if (snap && snapshotKey && !conditions.some((w) => DATA_LOSS.has(w.code))) {
    state.baselineKey = snapshotKey;
    mem.baseline = snap;
  }
  await attempt('save the open warnings', () => saveWatchState(store, state), undefined);

  // store-failing: raised once while any store call of this round failed, resolved by a round where none did.
  const failing = storeFailingWarning(problems, store.location);
  const open = state.open['store-failing'];
  let changed = false;
  if (failing) {
    const remind = open && now.getTime() - Date.parse(open.lastPostedAt) >= REMIND_AFTER_MS;
    if (!open || remind) {
      if (await post(warningsReport([failing], ctx, remind ? [failing.code] : []))) {
        if (open) {
          open.lastPostedAt = now.toISOString();
          posted.push({ code: failing.code, kind: 'reminder' });
        } else opened(failing);
        changed = true;
      }
    }
    warnings.push(failing);
  } else if (open && (await post(resolvedReport([open], [], ctx)))) {
    delete state.open['store-failing'];
    posted.push({ code: 'store-failing', kind: 'resolved' });
    changed = true;
  }
  // Only a store that works now is written again (the resolved case); a failing one keeps the state in memory.
  if (changed && !failing) await saveWatchState(store, state).catch(() => {});
  else if (changed) {
    mem.state = copy(state);
    mem.unsaved = true;
  }

  const protect = new Set([state.baselineKey, nearBackup?.key].filter((k): k is string => Boolean(k)));
  if (!failing)
    await compactSnapshots(store, now, protect).catch((err) =>
      deps.logger?.warn({ err: String(err) }, 'snapshot compaction failed'),
    );
  deps.logger?.info(
    { reachable: snap !== null, warnings: warnings.map((w) => w.code), posted },
    'watch round done',
  );
  return { reachable: snap !== null, warnings, posted, snapshotKey };
}

export interface AcceptResult {
  snapshot: Snapshot;
  cleared: WarningCode[];
  previousIdentity: DbIdentity | null;
}

/**
 * `dbwarden accept`: the database as it is now is what is expected (a planned move, an intended deletion).
 * Its snapshot becomes the baseline and open data-loss warnings close without a "resolved" post.
 */
export function acceptCurrent(
  deps: Pick<WatchDeps, 'store' | 'probe' | 'clock'>,
  by: string,
): Promise<AcceptResult> {
  return withStateLock(deps.store, () => accept(deps, by));
}

async function accept(deps: Pick<WatchDeps, 'store' | 'probe' | 'clock'>, by: string): Promise<AcceptResult> {
  const status = await deps.probe();
  const snap = snapshotFromStatus(status);
  if (!snap)
    throw new DbwardenError(
      (status.error?.code as ErrorCode | undefined) ?? 'unreachable-other',
      `Cannot accept: ${status.error?.message ?? 'the database did not answer'}`,
      status.error?.hint,
    );
  const state = await loadWatchState(deps.store);
  const before = state.baselineKey ? await loadSnapshot(deps.store, state.baselineKey) : null;
  state.baselineKey = await saveSnapshot(deps.store, snap);
  state.accepted = { identity: snap.identity, at: deps.clock().toISOString(), by };
  const cleared = (Object.keys(state.open) as WarningCode[]).filter((c) => DATA_LOSS.has(c));
  for (const c of cleared) delete state.open[c];
  await saveWatchState(deps.store, state);
  return { snapshot: snap, cleared, previousIdentity: before?.identity ?? null };
}

/** Record that a warning was just posted by someone else (e.g. the backup job), so the watch does not repeat it. */
export function notePosted(
  store: BlobStore,
  w: Pick<OpenWarning, 'code' | 'level' | 'title'>,
  now: Date,
): Promise<void> {
  return withStateLock(store, () => note(store, w, now));
}

async function note(
  store: BlobStore,
  w: Pick<OpenWarning, 'code' | 'level' | 'title'>,
  now: Date,
): Promise<void> {
  const state = await loadWatchState(store);
  const open = state.open[w.code];
  state.open[w.code] = {
    ...w,
    since: open?.since ?? now.toISOString(),
    lastPostedAt: now.toISOString(),
  };
  await saveWatchState(store, state);
}
