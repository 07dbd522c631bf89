/**
 * Status latency on a database with 1,000 tables and 5 million rows in total (median and p95 over 50 runs),
 * and which query of the probe is slowest. Prints figures; asserts nothing. `npm run bench:status`.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { probeStatus } from '../src/core/status.js';
import { createTarget } from '../src/core/target.js';
import { startCluster } from '../src/demo/cluster.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-'));
chmodSync(dir, 0o755);
const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
try {
  const url = cluster.url('postgres');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  // A few large tables as a real app has, and many small ones: 5,000,000 rows in all.
  const big: [string, number][] = [
    ['auth_user', 100_000],
    ['events', 2_000_000],
    ['billing_transaction', 1_000_000],
    ['billing_invoice', 500_000],
  ];
  for (const [name, rows] of big) {
    await client.query(`CREATE TABLE ${name} (id bigserial PRIMARY KEY, ref int NOT NULL, note text)`);
    await client.query(
      `INSERT INTO ${name} (ref, note) SELECT i % 1000, 'row ' || i FROM generate_series(1, ${rows}) i`,
    );
  }
  const smallTables = 1000 - big.length;
  const rest = 5_000_000 - big.reduce((n, [, r]) => n + r, 0);
  const perSmall = Math.floor(rest / smallTables);
  for (let i = 0; i < smallTables; i++) {
    const rows = i === 0 ? rest - perSmall * (smallTables - 1) : perSmall;
    await client.query(
      `CREATE TABLE app_t${i} (id serial PRIMARY KEY, v int); INSERT INTO app_t${i} (v) SELECT g FROM generate_series(1, ${rows}) g`,
    );
  }
  await client.query('VACUUM ANALYZE');
  await client.end();
  console.log(`built 1,000 tables / 5,000,000 rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const target = createTarget(url, {
    environment: 'bench',
    connectTimeoutMs: 5000,
    statementTimeoutMs: 10_000,
  });
  await probeStatus({ target, watchTables: null }); // warm the pool and caches
  const times: number[] = [];
  const perQuery: Record<string, number[]> = {};
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const s = await probeStatus({ target, watchTables: null });
    times.push(performance.now() - started);
    for (const [k, v] of Object.entries(s.timings)) {
      perQuery[k] = [...(perQuery[k] ?? []), v];
    }
    if (!s.reachable) throw new Error(`status failed: ${s.error?.message}`);
  }
  await target.close();
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  console.log(
    `status over ${RUNS} runs: median ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms (target p95 < 300 ms)`,
  );
  const medians = Object.entries(perQuery)
    .map(([k, v]) => [k, pct(v, 50)] as const)
    .sort((a, b) => b[1] - a[1]);
  console.log(`per query (median ms): ${medians.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  console.log(`slowest query: ${medians[0]?.[0]}`);
} finally {
  cluster.destroy();
}
