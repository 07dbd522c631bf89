import type { parse } from 'libpg-query';

/** destructive: loses data. risky: may break the running app, lock tables or fail half-way. error: could not be read. */
export type Severity = 'destructive' | 'risky' | 'error';

export interface Finding {
  rule: string;
  severity: Severity;
  /** The statement as written (trimmed, at most 300 chars). */
  statement: string;
  /** 1-based line of the statement in its source. */
  line: number;
  why: string;
  /** Where the SQL came from: a file path or "billing.0004_remove_customer_phone". */
  source?: string;
}

export interface LintOptions {
  source?: string;
  /** Index/constraint names known to enforce uniqueness (from the live catalog); names also judged by convention. */
  uniqueNames?: ReadonlySet<string>;
}

type Node = Record<string, unknown>;

/** PostgreSQL's parser (a WebAssembly module), loaded on the first lint: only preflight and deploy checks pay. */
let parser: Promise<{ parse: typeof parse }> | null = null;

/** Lint SQL with PostgreSQL's own parser (libpg_query). Unparseable SQL is a finding, never a pass. */
export async function lintSql(sql: string, opts: LintOptions = {}): Promise<Finding[]> {
  parser ??= import('libpg-query').then(async (lib) => {
    await lib.loadModule();
    return lib;
  });
  const { parse } = await parser;
  const bytes = Buffer.from(sql, 'utf8');
  const at = (loc: number, len?: number) =>
    bytes.subarray(loc, len === undefined ? undefined : loc + len).toString('utf8');
  const lineOf = (byteOffset: number) => at(0, byteOffset).split('\n').length;
  const source = opts.source ? { source: opts.source } : {};

  let result: Awaited<ReturnType<typeof parse>>;
  try {
    result = await parse(sql);
  } catch (err) {
    const details = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    const pos = Math.max(0, (details?.cursorPosition ?? 1) - 1);
    const line = lineOf(Math.min(pos, bytes.length));
    return [
      {
        rule: 'unparseable',
        severity: 'error',
        statement: (sql.split('\n')[line - 1] ?? '').trim().slice(0, 300),
        line,
        why: `PostgreSQL cannot parse this: ${(err as Error).message}. Nothing in this file was checked.`,
        ...source,
      },
    ];
  }

  const findings: Finding[] = [];
  for (const raw of result.stmts ?? []) {
    const entry = raw as { stmt?: Node; stmt_location?: number; stmt_len?: number };
    if (!entry.stmt) continue;
    const start = entry.stmt_location ?? 0;
    const text = at(start, entry.stmt_len || undefined);
    // stmt_location includes the whitespace and comments before the statement: skip them for the line.
    const lead = /^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/.exec(text)?.[0] ?? '';
    const statement = text.slice(lead.length).trim().replace(/;$/, '').slice(0, 300);
    const line = lineOf(start + Buffer.byteLength(lead));
    for (const f of rulesFor(entry.stmt, opts.uniqueNames ?? new Set()))
      findings.push({ ...f, statement, line, ...source });
  }
  return findings;
}

type Hit = Omit<Finding, 'statement' | 'line' | 'source'>;

const UNIQUE_BY_NAME = /(_uniq|_key|_pkey|unique|_uq)(_[0-9a-f]+)?$/i;

function rulesFor(stmt: Node, uniqueNames: ReadonlySet<string>): Hit[] {
  const [kind, body] = Object.entries(stmt)[0] as [string, Node];
  const hits: Hit[] = [];
  switch (kind) {
    case 'DropStmt': {
      const type = body.removeType as string;
      const names = objectNames(body.objects);
      if (type === 'OBJECT_TABLE')
        hits.push({
          rule: 'drop-table',
          severity: 'destructive',
          why: `Deletes table ${names} and every row in it.`,
        });
      else if (type === 'OBJECT_SCHEMA')
        hits.push({
          rule: 'drop-schema',
          severity: 'destructive',
          why: `Deletes schema ${names}${body.behavior === 'DROP_CASCADE' ? ' and everything in it' : ''}.`,
        });
      else if (type === 'OBJECT_INDEX' && names.split(', ').some((n) => isUnique(n, uniqueNames)))
        hits.push({
          rule: 'drop-unique-index',
          severity: 'risky',
          why: `Index ${names} enforces uniqueness: duplicates can creep in once it is gone.`,
        });
      break;
    }
    case 'DropdbStmt':
      hits.push({
        rule: 'drop-database',
        severity: 'destructive',
        why: `Deletes database ${body.dbname as string} entirely.`,
      });
      break;
    case 'TruncateStmt':
      hits.push({ rule: 'truncate', severity: 'destructive', why: `Empties ${relNames(body.relations)}.` });
      break;
    case 'DeleteStmt':
      if (!body.whereClause)
        hits.push({
          rule: 'delete-without-where',
          severity: 'destructive',
          why: `Deletes every row of ${relName(body.relation)}.`,
        });
      break;
    case 'UpdateStmt':
      if (!body.whereClause)
        hits.push({
          rule: 'update-without-where',
          severity: 'destructive',
          why: `Overwrites a column in every row of ${relName(body.relation)}; the old values are gone.`,
        });
      break;
    case 'RenameStmt': {
      const type = body.renameType as string;
      if (type === 'OBJECT_TABLE')
        hits.push({
          rule: 'rename-table',
          severity: 'risky',
          why: `Renames ${relName(body.relation)} to ${body.newname as string}: code still running against the old name fails until the deploy finishes.`,
        });
      else if (type === 'OBJECT_COLUMN')
        hits.push({
          rule: 'rename-column',
          severity: 'risky',
          why: `Renames column ${body.subname as string} of ${relName(body.relation)}: the running app still uses the old name.`,
        });
      break;
    }
    case 'AlterTableStmt': {
      const table = relName(body.relation);
      for (const c of (body.cmds as Node[] | undefined) ?? []) {
        const cmd = c.AlterTableCmd as Node | undefined;
        if (!cmd) continue;
        const col = cmd.name as string | undefined;
        switch (cmd.subtype) {
          case 'AT_DropColumn':
            hits.push({
              rule: 'drop-column',
              severity: 'destructive',
              why: `Deletes column ${col} of ${table} and its data in every row.`,
            });
            break;
          case 'AT_AlterColumnType':
            hits.push({
              rule: 'alter-column-type',
              severity: 'risky',
              why: `Changes the type of ${table}.${col}: rewrites the table under a lock and may truncate or fail on existing values.`,
            });
            break;
          case 'AT_SetNotNull':
            hits.push({
              rule: 'set-not-null',
              severity: 'risky',
              why: `Makes ${table}.${col} NOT NULL: fails if any row has a null, and scans the table under a lock.`,
            });
            break;
          case 'AT_DropConstraint':
            if (isUnique(col ?? '', uniqueNames))
              hits.push({
                rule: 'drop-unique-constraint',
                severity: 'risky',
                why: `Constraint ${col} on ${table} enforces uniqueness: duplicates can creep in once it is gone.`,
              });
            break;
        }
      }
      break;
    }
  }
  return hits;
}

function isUnique(name: string, known: ReadonlySet<string>): boolean {
  return known.has(name) || UNIQUE_BY_NAME.test(name);
}

function relName(rel: unknown): string {
  const r = rel as { schemaname?: string; relname?: string } | undefined;
  if (!r?.relname) return '?';
  return r.schemaname ? `${r.schemaname}.${r.relname}` : r.relname;
}

function relNames(list: unknown): string {
  return ((list as Node[] | undefined) ?? []).map((n) => relName(n.RangeVar)).join(', ');
}

/** DROP's objects: lists of String nodes (qualified names) or bare Strings (schemas). */
function objectNames(list: unknown): string {
  return ((list as Node[] | undefined) ?? [])
    .map((o) => {
      const items = (o.List as { items?: Node[] } | undefined)?.items;
      if (items) return items.map((i) => (i.String as { sval?: string } | undefined)?.sval ?? '?').join('.');
      return (o.String as { sval?: string } | undefined)?.sval ?? '?';
    })
    .join(', ');
}

/** Does any finding stop a strict deploy? */
export function hasDestructive(findings: Finding[]): boolean {
  return findings.some((f) => f.severity === 'destructive' || f.severity === 'error');
}
