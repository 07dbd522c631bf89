import { DbwardenError, type ErrorCode } from '../core/errors.js';
import type { DbIdentity } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import type { Notifier } from '../core/notifier.js';
import type { Report } from '../core/report.js';
import { type Snapshot, snapshotFromStatus } from '../core/snapshot.js';
import type { DbStatus } from '../core/status.js';
import type { Warning, WarningCode } from '../core/warning.js';
import { type BlobStore, readText } from '../store/blob-store.js';
import { createCatalog, newestGoodOf } from '../store/catalog.js';
import { type GuardConfig, guard, guardedIdentity, type OpenWarning } from './guard.js';
import {
  compactSnapshots,
  listSnapshots,
  loadSnapshot,
  nearestBefore,
  type SnapshotRef,
  saveSnapshot,
} from './snapshot-history.js';
import { resolvedReport, warningsReport } from './warning-report.js';

/** What the watch remembers between runs (in the store, so replicas and restarts share it). */
export interface WatchState {
  v: 1;
  /** The last snapshot taken while no data-loss warning was open: what "before" means. */
  baselineKey: string | null;
  failedChecks: number;
  unreachableSince: string | null;
  open: Partial<Record<WarningCode, OpenWarning>>;
  accepted: { identity: DbIdentity; at: string; by: string } | null;
}

export const WATCH_STATE_KEY = 'state/guard/watch.json';
/** Warnings about the data itself: they keep the baseline where it was until they clear or are accepted. */
export const DATA_LOSS: ReadonlySet<WarningCode> = new Set([
  'database-replaced',
  'database-emptied',
  'rows-dropped',
  'table-missing',
]);
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

const emptyState = (): WatchState => ({
  v: 1,
  baselineKey: null,
  failedChecks: 0,
  unreachableSince: null,
  open: {},
  accepted: null,
});

/** The watch state, or a fresh one. */
export async function loadWatchState(store: BlobStore): Promise<WatchState> {
  if (!(await store.stat(WATCH_STATE_KEY))) return emptyState();
  try {
    return { ...emptyState(), ...(JSON.parse(await readText(store, WATCH_STATE_KEY)) as WatchState) };
  } catch {
    return emptyState();
  }
}

async function saveWatchState(store: BlobStore, state: WatchState): Promise<void> {
  await store.put(WATCH_STATE_KEY, JSON.stringify(state, null, 1));
}

const stateLocks = new WeakMap<BlobStore, Promise<unknown>>();

/** Serialise read-modify-write of the watch state in this process (watch rounds, accept, the backup job's notes). */
function withStateLock<T>(store: BlobStore, fn: () => Promise<T>): Promise<T> {
  const run = (stateLocks.get(store) ?? Promise.resolve()).then(fn, fn);
  stateLocks.set(
    store,
    run.catch(() => {}),
  );
  return run;
}

/**
 * One round of the watch: probe, remember a snapshot, compare with the baseline, post what is new (and what
 * cleared) once. Open warnings live in the store so a warning is not posted again every few minutes.
 */
export function watchOnce(deps: WatchDeps): Promise<WatchResult> {
  return withStateLock(deps.store, () => watchRound(deps));
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

async function watchRound(deps: WatchDeps): Promise<WatchResult> {
  const { store, clock } = deps;
  const status = await deps.probe();
  const now = clock();
  const state = await loadWatchState(store);
  const manifests = await createCatalog(store).list();
  const refs = await listSnapshots(store);

  const previous = await baselineSnapshot(store, state, refs);

  const snap = snapshotFromStatus(status);
  let snapshotKey: string | null = null;
  if (snap) {
    snapshotKey = await saveSnapshot(store, snap);
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
  const atBackup = nearBackup ? await loadSnapshot(store, nearBackup.key) : null;

  const warnings = guard({
    previous,
    current,
    unreachableOpen: Boolean(state.open.unreachable),
    rowsDroppedOpen: Boolean(state.open['rows-dropped']),
    manifests,
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
    // Unreachable, we cannot tell whether the data came back: data-loss warnings stay open.
    (o) => o && !raised.has(o.code) && (snap !== null || !DATA_LOSS.has(o.code)),
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
  const ctx = { target: status.target, timezone: deps.timezone, now };
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
      for (const w of fresh) {
        state.open[w.code] = {
          code: w.code,
          level: w.level,
          title: w.title,
          since: now.toISOString(),
          lastPostedAt: now.toISOString(),
        };
        posted.push({ code: w.code, kind: 'new' });
      }
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
  // The baseline moves on only while the data looks right, so damage stays visible until fixed or accepted.
  if (snap && snapshotKey && !conditions.some((w) => DATA_LOSS.has(w.code))) state.baselineKey = snapshotKey;
  await saveWatchState(store, state);

  const protect = new Set([state.baselineKey, nearBackup?.key].filter((k): k is string => Boolean(k)));
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
