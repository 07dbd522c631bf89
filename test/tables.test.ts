import { describe, expect, it } from 'vitest';
import {
  buildTables,
  type CatalogRow,
  estimateRows,
  exclusionMatcher,
  planDump,
  type RowStats,
} from '../src/core/tables.js';

const stats = (over: Partial<RowStats> = {}): RowStats => ({
  serverVersionNum: 150006,
  reltuples: 100,
  relpages: 10,
  currentPages: 10,
  liveTuples: 100,
  ...over,
});

describe('estimateRows', () => {
  it('PostgreSQL 14+: -1 is never analysed → the statistics’ live tuples; 0 is an analysed empty table', () => {
    expect(estimateRows(stats({ reltuples: -1, relpages: 0, currentPages: 5, liveTuples: 420 }))).toBe(420);
    expect(estimateRows(stats({ reltuples: -1, relpages: 0, currentPages: 5, liveTuples: null }))).toBe(0);
    expect(estimateRows(stats({ reltuples: 0, relpages: 0, currentPages: 0, liveTuples: 0 }))).toBe(0);
  });
  it('PostgreSQL 13: reltuples 0 beside pages holding data is unknown, not empty', () => {
    const pg13 = { serverVersionNum: 130023 };
    // Never analysed: reltuples 0, relpages 0, but the table has pages and the statistics saw 5,000 inserts.
    expect(
      estimateRows(stats({ ...pg13, reltuples: 0, relpages: 0, currentPages: 30, liveTuples: 5000 })),
    ).toBe(5000);
    // reltuples 0 with relpages > 0 (e.g. an index built on an empty table, rows loaded later).
    expect(
      estimateRows(stats({ ...pg13, reltuples: 0, relpages: 1, currentPages: 30, liveTuples: 5000 })),
    ).toBe(5000);
    // A truly empty table is still 0.
    expect(estimateRows(stats({ ...pg13, reltuples: 0, relpages: 0, currentPages: 0, liveTuples: 0 }))).toBe(
      0,
    );
    expect(estimateRows(stats({ ...pg13, reltuples: 800, relpages: 8, currentPages: 8 }))).toBe(800);
  });
  it('scales a known density to the pages the table has now, as the planner does', () => {
    expect(estimateRows(stats({ reltuples: 100, relpages: 10, currentPages: 20 }))).toBe(200);
  });
});

describe('exclusionMatcher: pg_dump pattern semantics', () => {
  const rel = (schema: string, name: string, visible = schema === 'public') => ({ schema, name, visible });
  it('an unqualified pattern matches tables visible through the search_path only', () => {
    const m = exclusionMatcher(['audit_*']);
    expect(m(rel('public', 'audit_log'))).toBe(true);
    expect(m(rel('archive', 'audit_log'))).toBe(false);
    expect(m(rel('public', 'my_audit_log'))).toBe(false);
  });
  it('qualified patterns, ? and *, case folding outside quotes, literal text inside', () => {
    expect(exclusionMatcher(['*.events'])(rel('archive', 'events'))).toBe(true);
    expect(exclusionMatcher(['public.log?'])(rel('public', 'logs'))).toBe(true);
    expect(exclusionMatcher(['public.log?'])(rel('public', 'log'))).toBe(false);
    expect(exclusionMatcher(['Public.Logs'])(rel('public', 'logs'))).toBe(true);
    expect(exclusionMatcher(['"Logs"'])(rel('public', 'logs'))).toBe(false);
    expect(exclusionMatcher(['"Logs"'])(rel('public', 'Logs'))).toBe(true);
    expect(exclusionMatcher(['"a.b*"'])(rel('public', 'a.b*'))).toBe(true);
    expect(exclusionMatcher(['"a.b*"'])(rel('public', 'a.bc'))).toBe(false);
    expect(exclusionMatcher(['app.public.logs'])(rel('public', 'logs'))).toBe(true);
  });
  it('a dot is a separator, never "any character"', () => {
    expect(exclusionMatcher(['public.logs'])(rel('publicX', 'logs'))).toBe(false);
    expect(exclusionMatcher(['publicxlogs'])(rel('public', 'logs'))).toBe(false);
  });
  it('unknown visibility (an old manifest) counts as visible', () => {
    expect(exclusionMatcher(['orders'])({ schema: 'shop', name: 'orders' })).toBe(true);
  });
});

const row = (over: Partial<CatalogRow> & Pick<CatalogRow, 'oid' | 'name'>): CatalogRow => ({
  parent: null,
  kind: 'r',
  schema: 'public',
  visible: true,
  extension: null,
  sizeBytes: 8192,
  stats: stats(),
  ...over,
});

/** public.events partitioned by year, 2025 itself partitioned by quarter; postgis's spatial_ref_sys; users. */
const catalog: CatalogRow[] = [
  row({ oid: '1', name: 'users' }),
  row({ oid: '2', name: 'events', kind: 'p', sizeBytes: 0, stats: stats({ reltuples: -1, relpages: 0 }) }),
  row({ oid: '3', name: 'events_2024', parent: '2' }),
  row({ oid: '4', name: 'events_2025', parent: '2', kind: 'p', sizeBytes: 0 }),
  row({ oid: '5', name: 'events_2025_q1', parent: '4' }),
  row({ oid: '6', name: 'events_2025_q2', parent: '4' }),
  row({ oid: '7', name: 'spatial_ref_sys', extension: 'postgis' }),
];

describe('the tables of a database', () => {
  it('a partitioned table is one table: leaves at any depth, rows and size summed', () => {
    const tables = buildTables(catalog);
    expect(tables.map((t) => t.name)).toEqual(['events', 'spatial_ref_sys', 'users']);
    const events = tables[0]!;
    expect(events.partitioned).toBe(true);
    expect(events.leaves.map((l) => l.name)).toEqual(['events_2024', 'events_2025_q1', 'events_2025_q2']);
    expect(events.leaves[1]!.via?.map((v) => v.name)).toEqual(['events_2025']);
    expect(events.estimate).toBe(300);
    expect(events.sizeBytes).toBe(3 * 8192);
    expect(tables[1]!.extension).toBe('postgis');
  });

  it('a dump plan: extension-owned tables left out; excluding a partitioned table excludes all its leaves', () => {
    const plan = planDump(buildTables(catalog), ['events']);
    expect(plan.dumped.map((d) => d.key)).toEqual(['public.users']);
    expect(plan.leftOut).toEqual({
      'public.events': 'DBWARDEN_EXCLUDE_TABLES',
      'public.spatial_ref_sys': 'owned by extension postgis',
    });
    expect(plan.excludeData).toEqual([
      '"public"."events_2024"',
      '"public"."events_2025_q1"',
      '"public"."events_2025_q2"',
    ]);
    expect(plan.expectedData).toEqual(['public.users']);
  });

  it('excluding part of a partitioned table: its kept leaves are expected and counted', () => {
    const plan = planDump(buildTables(catalog), ['events_2025']);
    const events = plan.dumped.find((d) => d.key === 'public.events')!;
    expect(events.partly?.map((l) => l.name)).toEqual(['events_2024']);
    expect(plan.leftOut['public.events']).toBe(
      'DBWARDEN_EXCLUDE_TABLES: partitions public.events_2025_q1, public.events_2025_q2',
    );
    expect(plan.expectedData).toEqual(['public.events_2024', 'public.users']);
  });

  it('no exclusions: every leaf partition of every table is expected in the archive', () => {
    const plan = planDump(buildTables(catalog), []);
    expect(plan.expectedData.sort()).toEqual(
      ['public.events_2024', 'public.events_2025_q1', 'public.events_2025_q2', 'public.users'].sort(),
    );
    expect(plan.excludeData).toEqual([]);
    expect(plan.dumped.map((d) => [d.key, d.partly])).toEqual([
      ['public.events', null],
      ['public.users', null],
    ]);
  });
});
