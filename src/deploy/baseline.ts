import type { BlobStore } from '../backup/store/blob-store.js';
import { readText } from '../backup/store/blob-store.js';
import { type DbIdentity, identityLabel, sameIdentity } from '../core/identity.js';
import type { DbStatus } from '../core/status.js';

/** What the database looked like when dbwarden last saw it healthy: enough to tell "replaced" and "emptied". */
export interface Baseline {
  at: string;
  identity: DbIdentity | null;
  /** Rows per "schema.table" (exact for watched tables, estimates otherwise). */
  tables: Record<string, number>;
  watched: string[];
  migrations: { applied: number; latest: string | null } | null;
}

/** The remembered baseline lives in the store, never only in the database it describes. */
export const BASELINE_KEY = 'state/identity.json';

/** The baseline of one successful status reading. */
export function baselineOf(s: DbStatus): Baseline {
  return {
    at: s.checkedAt,
    identity: s.identity,
    tables: Object.fromEntries(s.tables.map((t) => [`${t.schema}.${t.name}`, t.rows])),
    watched: s.tables.filter((t) => t.watched).map((t) => `${t.schema}.${t.name}`),
    migrations: s.migrations ? { applied: s.migrations.applied, latest: s.migrations.latest } : null,
  };
}

/** Read the remembered baseline; null when dbwarden has never seen this database (or the file is unreadable). */
export async function readBaseline(store: BlobStore): Promise<Baseline | null> {
  if (!(await store.stat(BASELINE_KEY))) return null;
  try {
    return JSON.parse(await readText(store, BASELINE_KEY)) as Baseline;
  } catch {
    return null;
  }
}

export async function writeBaseline(store: BlobStore, b: Baseline): Promise<void> {
  await store.put(BASELINE_KEY, `${JSON.stringify(b, null, 2)}\n`);
}

export interface RowChange {
  table: string;
  before: number;
  after: number;
}

/** How the database differs from a baseline; `replaced` and `vanished` are the alarming parts. */
export interface BaselineDiff {
  replaced: boolean;
  /** "7301…9924/16384 → 7301…1188/16390" when replaced. */
  identityChange: string | null;
  added: string[];
  removed: string[];
  /** Watched tables (by the baseline) whose rows went from some to none, or that are gone with their rows. */
  vanished: RowChange[];
  /** Row changes of the baseline's watched tables, including the vanished ones. */
  rowChanges: RowChange[];
  /** The database has no user tables any more while the baseline had some. */
  emptied: boolean;
  migrationsApplied: number | null;
  latestMigration: string | null;
}

/** Compare a fresh status reading with the baseline. */
export function diffBaseline(before: Baseline, now: DbStatus): BaselineDiff {
  const after = baselineOf(now);
  const replaced =
    before.identity !== null && now.identity !== null && !sameIdentity(before.identity, now.identity);
  const beforeNames = Object.keys(before.tables);
  const afterNames = Object.keys(after.tables);
  const rowChanges: RowChange[] = [];
  const vanished: RowChange[] = [];
  for (const table of before.watched) {
    const b = before.tables[table] ?? 0;
    const a = after.tables[table] ?? 0;
    if (a !== b) rowChanges.push({ table, before: b, after: a });
    if (b > 0 && a === 0) vanished.push({ table, before: b, after: a });
  }
  return {
    replaced,
    identityChange:
      replaced && before.identity && now.identity
        ? `${identityLabel(before.identity)} → ${identityLabel(now.identity)}`
        : null,
    added: afterNames.filter((t) => !(t in before.tables)),
    removed: beforeNames.filter((t) => !(t in after.tables)),
    vanished,
    rowChanges,
    emptied: beforeNames.length > 0 && afterNames.length === 0,
    migrationsApplied:
      before.migrations && after.migrations ? after.migrations.applied - before.migrations.applied : null,
    latestMigration: after.migrations?.latest ?? null,
  };
}
