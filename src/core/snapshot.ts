import type { DbIdentity } from './identity.js';
import type { DbStatus } from './status.js';
import type { BlindTable } from './warning.js';

/** One table at the moment of a snapshot. */
export interface SnapshotTable {
  rows: number;
  /** true: count(*) (a watched table); false: the planner's estimate. */
  exact: boolean;
  sizeBytes: number;
  /** The extension that owns it, if any. */
  extension?: string;
}

/** What the guarded database looked like at one moment; kept in the store so it outlives the database. */
export interface Snapshot {
  v: 1;
  at: string;
  target: { name: string; environment: string; display: string };
  identity: DbIdentity;
  sizeBytes: number;
  /** Keyed "schema.table". */
  tables: Record<string, SnapshotTable>;
  /** The watched tables ("schema.table"), counted exactly. */
  watched: string[];
  /** Watched tables that could not be counted exactly (absent in older snapshots). */
  blind?: BlindTable[];
  /** The role dbwarden read as, and the server's version number: what a GRANT hint needs. */
  role?: string;
  serverVersionNum?: number;
}

/** A snapshot of a reachable status; null when the database could not be read. */
export function snapshotFromStatus(s: DbStatus): Snapshot | null {
  if (!s.reachable || !s.identity || s.sizeBytes === null) return null;
  const tables: Record<string, SnapshotTable> = {};
  const watched: string[] = [];
  const blind: BlindTable[] = [];
  for (const t of s.tables) {
    const name = `${t.schema}.${t.name}`;
    tables[name] = {
      rows: t.rows,
      exact: t.exact,
      sizeBytes: t.sizeBytes,
      ...(t.extension ? { extension: t.extension } : {}),
    };
    if (t.watched && t.exact) watched.push(name);
    if (t.watched && !t.exact) blind.push({ table: name, problem: t.countProblem ?? 'error' });
  }
  return {
    v: 1,
    at: s.checkedAt,
    target: s.target,
    identity: s.identity,
    sizeBytes: s.sizeBytes,
    tables,
    watched,
    blind,
    ...(s.role ? { role: s.role } : {}),
    ...(s.serverVersionNum !== null ? { serverVersionNum: s.serverVersionNum } : {}),
  };
}

/** "2026-11-24T03:00:00.123Z" → "20261124T030000123Z": sorts by time, safe as a key. */
export function compactTime(iso: string): string {
  return new Date(iso).toISOString().replace(/[-:.]/g, '');
}

/** Inverse of compactTime. */
export function parseCompactTime(s: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(s);
  if (!m) return null;
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
}
