import type pg from 'pg';

/**
 * THE list of a database's tables, used by status, snapshots, backup counts and the dump's completeness check.
 * A table is what the app sees: a plain table, or a partitioned table standing for all its partitions (rows and
 * size summed over its leaf partitions). Tables owned by an extension (PostGIS's spatial_ref_sys) are listed but
 * flagged: the extension recreates them, so backups neither count nor expect their data.
 */
export interface DbTable {
  schema: string;
  name: string;
  /** Visible through the role's search_path: what an unqualified pg_dump pattern matches. */
  visible: boolean;
  partitioned: boolean;
  /** Relations that hold its rows, as pg_dump writes them: itself, or its leaf partitions (any depth). */
  leaves: Relation[];
  /** The planner's row estimate (see estimateRows), summed over leaves. */
  estimate: number;
  sizeBytes: number;
  /** Name of the extension that owns it, or null. */
  extension: string | null;
}

/** A relation as a pg_dump pattern sees it. */
export interface Relation {
  schema: string;
  name: string;
  visible: boolean;
  /** Partitioned tables between the table and this leaf (empty for a plain table or a direct partition). */
  via?: Relation[];
}

/** "schema.table", the key everywhere (snapshots, manifests, the archive listing). */
export const tableKey = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** "schema.table" (or a table) → quoted SQL name. */
export function qualified(t: string | { schema: string; name: string }): string {
  if (typeof t !== 'string') return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
  const dot = t.indexOf('.');
  return `${quoteIdent(t.slice(0, dot))}.${quoteIdent(t.slice(dot + 1))}`;
}

/** What the catalog says about a relation's size and statistics. */
export interface RowStats {
  serverVersionNum: number;
  /** pg_class.reltuples at the last VACUUM/ANALYZE (-1: never, from PostgreSQL 14 on). */
  reltuples: number;
  /** pg_class.relpages at that moment. */
  relpages: number;
  /** Pages the relation has now. */
  currentPages: number;
  /** pg_stat_user_tables.n_live_tup (null without statistics). */
  liveTuples: number | null;
}

/**
 * The planner's estimate of a table's rows. reltuples is unknown when never analysed: -1 from PostgreSQL 14, but
 * 0 before it, so on 13 a 0 beside pages that hold data is "unknown", not "empty". Unknown falls back to the
 * statistics' live tuples. A known density is scaled to the pages the table has now, as the planner does.
 */
export function estimateRows(s: RowStats): number {
  const known =
    s.serverVersionNum >= 140000
      ? s.reltuples >= 0
      : s.reltuples > 0 || (s.relpages === 0 && s.currentPages === 0);
  if (!known) return Math.max(0, s.liveTuples ?? 0);
  if (s.relpages > 0) return Math.round((s.reltuples / s.relpages) * s.currentPages);
  return Math.max(0, Math.round(s.reltuples));
}

/** One row of the catalog query: a table, or a partition below one. */
export interface CatalogRow {
  oid: string;
  parent: string | null;
  kind: 'r' | 'p';
  schema: string;
  name: string;
  visible: boolean;
  extension: string | null;
  sizeBytes: number;
  stats: RowStats;
}

/** Assemble tables from catalog rows: partitions fold into their top-level table. Pure. */
export function buildTables(rows: CatalogRow[]): DbTable[] {
  const children = new Map<string, CatalogRow[]>();
  for (const r of rows) if (r.parent !== null) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  const rel = (r: CatalogRow): Relation => ({ schema: r.schema, name: r.name, visible: r.visible });
  const out: DbTable[] = [];
  for (const top of rows.filter((r) => r.parent === null)) {
    const leaves: Relation[] = [];
    let estimate = 0;
    let sizeBytes = 0;
    const walk = (r: CatalogRow, via: Relation[]) => {
      if (r.kind === 'r') {
        leaves.push({ ...rel(r), ...(r === top ? {} : { via }) });
        estimate += estimateRows(r.stats);
        sizeBytes += r.sizeBytes;
        return;
      }
      for (const c of children.get(r.oid) ?? []) walk(c, r === top ? [] : [...via, rel(r)]);
    };
    walk(top, []);
    out.push({
      ...rel(top),
      partitioned: top.kind === 'p',
      leaves,
      estimate,
      sizeBytes,
      extension: top.extension,
    });
  }
  // Code-point order: the same on every machine, and no ICU collator to load (~10 ms) before a backup's pg_dump.
  return out.sort((a, b) => {
    const x = tableKey(a);
    const y = tableKey(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * Every table of the connected database (see DbTable). Works on PostgreSQL 13 to 18. `sizes: false` reads sizes
 * from the catalog instead of the files: pg_relation_size waits behind a table's ACCESS EXCLUSIVE lock, and a
 * backup must not wait for anything before pg_dump does.
 */
export async function listTables(client: pg.ClientBase, opts: { sizes?: boolean } = {}): Promise<DbTable[]> {
  const pages =
    opts.sizes === false
      ? 'c.relpages::bigint'
      : "pg_relation_size(c.oid) / current_setting('block_size')::int";
  const size =
    opts.sizes === false
      ? "(c.relpages::bigint + coalesce(t.relpages, 0)) * current_setting('block_size')::int"
      : 'pg_relation_size(c.oid) + coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0)';
  // The catalog row as PostgreSQL sends it: bigints as text, the estimate's inputs apart.
  const r = await client.query<
    Omit<CatalogRow, 'sizeBytes' | 'stats'> & {
      size: string;
      reltuples: number;
      relpages: number;
      pages: string;
      live: string | null;
      version: number;
    }
  >(`
    SELECT c.oid::text AS oid, i.inhparent::text AS parent, c.relkind AS kind, n.nspname AS schema,
           c.relname AS name, pg_table_is_visible(c.oid) AS visible, e.extname AS extension,
           (${size})::text AS size, c.reltuples::float8 AS reltuples, c.relpages AS relpages, (${pages})::text AS pages,
           s.n_live_tup::text AS live, current_setting('server_version_num')::int AS version
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
      LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
      LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
      LEFT JOIN pg_extension e ON e.oid = d.refobjid
     WHERE c.relkind IN ('r', 'p')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`);
  return buildTables(
    r.rows.map((row) => ({
      oid: row.oid,
      parent: row.parent,
      kind: row.kind,
      schema: row.schema,
      name: row.name,
      visible: row.visible,
      extension: row.extension,
      sizeBytes: Number(row.size),
      stats: {
        serverVersionNum: row.version,
        reltuples: Number(row.reltuples),
        relpages: Number(row.relpages),
        currentPages: Number(row.pages),
        liveTuples: row.live === null ? null : Number(row.live),
      },
    })),
  );
}

/** One pg_dump table pattern compiled as pg_dump compiles it (processSQLNamePattern). */
interface CompiledPattern {
  schema: RegExp | null;
  name: RegExp;
}

/**
 * Compile a pg_dump pattern: unquoted letters fold to lower case, `*` and `?` are wildcards, `.` separates
 * database, schema and name, double quotes keep text literal, `$` is literal, other regexp syntax passes through.
 * An unqualified pattern matches only tables visible through the search_path. Null when it can never match.
 */
function compilePattern(pattern: string): CompiledPattern | null {
  const parts: string[] = [''];
  let inQuotes = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    const last = parts.length - 1;
    if (ch === '"') {
      if (inQuotes && pattern[i + 1] === '"') {
        parts[last] += '"';
        i++;
      } else inQuotes = !inQuotes;
    } else if (!inQuotes && ch >= 'A' && ch <= 'Z') parts[last] += ch.toLowerCase();
    else if (!inQuotes && ch === '*') parts[last] += '.*';
    else if (!inQuotes && ch === '?') parts[last] += '.';
    else if (!inQuotes && ch === '.') parts.push('');
    else if (ch === '$') parts[last] += '\\$';
    else if (inQuotes && '|*+?()[]{}.^\\'.includes(ch)) parts[last] += `\\${ch}`;
    else if (ch === '[' && pattern[i + 1] === ']') parts[last] += '\\[';
    else parts[last] += ch;
  }
  // "db.schema.table": pg_dump refuses another database; the schema and name are what match here.
  if (parts.length > 3) return null;
  const re = (s: string) => {
    try {
      return new RegExp(`^(${s})$`);
    } catch {
      return null;
    }
  };
  const name = re(parts[parts.length - 1]!);
  const schema = parts.length > 1 ? re(parts[parts.length - 2]!) : null;
  if (!name || (parts.length > 1 && !schema)) return null;
  return { schema, name };
}

/**
 * THE excluded-table matcher (DBWARDEN_EXCLUDE_TABLES, pg_dump pattern semantics), used by the dump, the
 * manifest's counts and the guard. Unknown visibility (an old manifest) counts as visible.
 */
export function exclusionMatcher(
  patterns: string[],
): (r: { schema: string; name: string; visible?: boolean }) => boolean {
  const compiled = patterns.map(compilePattern).filter((p): p is CompiledPattern => p !== null);
  return (r) =>
    compiled.some((p) => p.name.test(r.name) && (p.schema ? p.schema.test(r.schema) : r.visible !== false));
}

/** What a backup takes of each table, decided once for the dump, its row counts and its completeness check. */
export interface DumpPlan {
  /** Tables whose rows the dump holds, with the leaves to count when some partitions are left out. */
  dumped: { key: string; table: DbTable; partly: Relation[] | null }[];
  /** "schema.table" → why the dump does not hold all its rows: excluded, or owned by an extension. */
  leftOut: Record<string, string>;
  /** pg_dump --exclude-table-data values: every excluded leaf by its exact quoted name. */
  excludeData: string[];
  /** TABLE DATA entries ("schema.table") the archive must hold. */
  expectedData: string[];
}

/**
 * Decide what a dump takes. A leaf partition is excluded when a pattern matches it or any table above it (as
 * pg_dump 16's --exclude-table-data-and-children does), so excluding a partitioned table excludes all of it; the
 * dump is told exact names, so pg_dump and dbwarden cannot disagree on what a pattern means. Pure.
 */
export function planDump(tables: DbTable[], excludePatterns: string[]): DumpPlan {
  const excluded = exclusionMatcher(excludePatterns);
  const plan: DumpPlan = { dumped: [], leftOut: {}, excludeData: [], expectedData: [] };
  for (const t of tables) {
    const key = tableKey(t);
    if (t.extension) {
      plan.leftOut[key] = `owned by extension ${t.extension}`;
      continue;
    }
    const gone = t.leaves.filter((l) => excluded(t) || excluded(l) || (l.via ?? []).some(excluded));
    const kept = t.leaves.filter((l) => !gone.includes(l));
    plan.excludeData.push(...gone.map((l) => qualified(l)));
    plan.expectedData.push(...kept.map(tableKey));
    if (excluded(t) || (gone.length > 0 && kept.length === 0)) {
      plan.leftOut[key] = 'DBWARDEN_EXCLUDE_TABLES';
      continue;
    }
    if (gone.length > 0)
      plan.leftOut[key] = `DBWARDEN_EXCLUDE_TABLES: partitions ${gone.map(tableKey).join(', ')}`;
    plan.dumped.push({ key, table: t, partly: gone.length > 0 ? kept : null });
  }
  return plan;
}

/** SQL counting a table's rows exactly; with `leaves`, only those partitions. */
export function countSql(t: string | { schema: string; name: string }, leaves?: Relation[] | null): string {
  if (!leaves) return `SELECT count(*)::text AS n FROM ${qualified(t)}`;
  if (leaves.length === 0) return `SELECT '0' AS n`;
  return `SELECT (${leaves.map((l) => `(SELECT count(*) FROM ONLY ${qualified(l)})`).join(' + ')})::text AS n`;
}

/** Exact count(*) of each table ("schema.table"), in the caller's transaction. */
export async function countRows(client: pg.ClientBase, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number((await client.query<{ n: string }>(countSql(t))).rows[0]!.n);
  return out;
}

/** Exact rows of every table a dump plan takes, as the dump holds them (left-out partitions not counted). */
export async function countDumped(client: pg.ClientBase, plan: DumpPlan): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of plan.dumped)
    out[d.key] = Number((await client.query<{ n: string }>(countSql(d.table, d.partly))).rows[0]!.n);
  return out;
}
