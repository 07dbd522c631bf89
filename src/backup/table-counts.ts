import type pg from 'pg';
import { listTables, tableKey } from '../core/tables.js';

/**
 * The tables whose data a backup of this database holds, as "schema.table" sorted: core/tables.ts's list
 * (partitioned tables as one table) without extension-owned tables.
 */
export async function listDumpedTables(client: pg.ClientBase): Promise<string[]> {
  return (await listTables(client, { sizes: false })).filter((t) => !t.extension).map(tableKey);
}

/** Every relation name a restored archive may hold data under: tables and their leaf partitions. */
export async function listDataRelations(client: pg.ClientBase): Promise<string[]> {
  return (await listTables(client, { sizes: false })).flatMap((t) => [
    tableKey(t),
    ...t.leaves.map(tableKey),
  ]);
}
