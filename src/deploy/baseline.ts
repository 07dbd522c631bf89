import { type Snapshot, snapshotFromStatus } from '../core/snapshot.js';
import type { DbStatus } from '../core/status.js';
import type { Warning } from '../core/warning.js';
import { type GuardConfig, guard } from '../guard/guard.js';
import { saveSnapshot } from '../guard/snapshot-history.js';
import { DATA_LOSS } from '../guard/watch.js';
import { baselineSnapshot } from '../guard/watch-state.js';
import type { BlobStore } from '../store/blob-store.js';
import { createCatalog } from '../store/catalog.js';

/** Save a snapshot of the database when the store holds none: the first sight is what the guard compares with. */
export async function rememberFirstSight(store: BlobStore, status: DbStatus): Promise<boolean> {
  const snap = snapshotFromStatus(status);
  if (!snap || (await baselineSnapshot(store))) return false;
  await saveSnapshot(store, snap);
  return true;
}

/** The guard's data-loss warnings (replaced, emptied, rows dropped, table gone) between two snapshots. */
export async function dataLossWarnings(
  store: BlobStore,
  previous: Snapshot,
  current: Snapshot,
  config: GuardConfig,
  now: Date,
): Promise<Warning[]> {
  const manifests = await createCatalog(store)
    .list()
    .catch(() => []);
  return guard({ previous, current, manifests, config, now }).filter((w) => DATA_LOSS.has(w.code));
}

export interface RowChange {
  table: string;
  before: number;
  after: number;
}

/** What a deploy changed, for the deploy report: tables added and removed, watched rows, migrations applied. */
export interface DeployChanges {
  added: string[];
  removed: string[];
  rowChanges: RowChange[];
  migrationsApplied: number | null;
  latestMigration: string | null;
}

/** Compare the reading before a deploy with a fresh one. */
export function describeChanges(
  before: Snapshot,
  beforeMigrations: { applied: number } | null,
  now: DbStatus,
): DeployChanges {
  const after = snapshotFromStatus(now);
  const afterTables = after?.tables ?? {};
  return {
    added: Object.keys(afterTables).filter((t) => !(t in before.tables)),
    removed: Object.keys(before.tables).filter((t) => !(t in afterTables)),
    rowChanges: before.watched
      .map((table) => ({
        table,
        before: before.tables[table]?.rows ?? 0,
        after: afterTables[table]?.rows ?? 0,
      }))
      .filter((c) => c.before !== c.after),
    migrationsApplied:
      beforeMigrations && now.migrations ? now.migrations.applied - beforeMigrations.applied : null,
    latestMigration: now.migrations?.latest ?? null,
  };
}
