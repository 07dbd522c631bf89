/**
 * `npm run bench`: every figure of the table in one table, each module's rows in turn (start-up, backup,
 * status and serve), with the machine's core count and load above it. `npm run build` first; BENCH_MB picks the
 * backup's database size (or sizes, comma-separated). Prints figures; asserts nothing.
 */
import { bench as backup } from './backup.js';
import { bench as serve } from './serve.js';
import { bench as start } from './start.js';
import { bench as status } from './status.js';
import { type BenchRow, printTable } from './table.js';

const rows: BenchRow[] = [];
for (const [name, run] of [
  ['start', start],
  ['backup', backup],
  ['status', status],
  ['serve', serve],
] as const) {
  console.error(`bench: ${name}…`);
  rows.push(...(await run()));
}
printTable(rows);
