import type pg from 'pg';

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** "schema.table" → quoted SQL name. */
export function qualified(name: string): string {
  const dot = name.indexOf('.');
  return `${quoteIdent(name.slice(0, dot))}.${quoteIdent(name.slice(dot + 1))}`;
}

/**
 * Every ordinary table pg_dump writes data for: user schemas, leaf partitions included, extension-owned
 * tables excluded. As "schema.table", sorted.
 */
export async function listDumpedTables(client: pg.ClientBase): Promise<string[]> {
  const r = await client.query<{ name: string }>(`
    SELECT n.nspname || '.' || c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 1`);
  return r.rows.map((row) => row.name);
}

/** Exact count(*) of each table, in the caller's transaction. */
export async function countRows(client: pg.ClientBase, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${qualified(t)}`);
    out[t] = Number(r.rows[0]!.n);
  }
  return out;
}

/** A pg_dump table pattern ("public.logs", "audit_*", "*.events") as a test on "schema.table". */
export function patternMatcher(patterns: string[]): (name: string) => boolean {
  const toRe = (p: string) => {
    const glob = (s: string) =>
      s
        .replace(/"/g, '')
        .split('')
        .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
    const dot = p.replace(/"[^"]*"/g, (q) => q.replace(/\./g, '\u0000')).indexOf('.');
    const schema = dot >= 0 ? glob(p.slice(0, dot)) : '[^.]*';
    const table = glob(dot >= 0 ? p.slice(dot + 1) : p);
    return new RegExp(`^${schema}\\.${table}$`);
  };
  const res = patterns.map(toRe);
  return (name) => res.some((re) => re.test(name));
}
