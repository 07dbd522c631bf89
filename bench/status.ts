/**
 * `/db-status` latency on a database with 1,000 tables and 5 million rows, as a user feels it: the db-status command
 * that every chat adapter serves, through the same services `serve` builds, with the watched tables' counts from a
 * watch round — alternated with the old path (counting the watched tables live, as `dbwarden status` still does).
 * Median and p95 over BENCH_RUNS runs each. Prints figures; asserts nothing. `npm run bench:status`.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { statusReport } from '../src/core/status-report.js';
import { startCluster } from '../src/demo/cluster.js';
import { buildServices } from '../src/main.js';
import { type BenchRow, median, percentile, printTable } from './table.js';

const TARGET_P95_MS = 150;

/** 1,000 tables, 5,000,000 rows: a few large ones as a real app has, and many small ones. */
async function buildDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
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
  } finally {
    await client.end();
  }
}

const ms = (x: number) => `${x.toFixed(0)} ms`;

/** The /db-status rows of the issue's table: counts from the watch round, next to counting live. */
export async function bench(): Promise<BenchRow[]> {
  const runs = Number(process.env.BENCH_RUNS ?? 50);
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-status-'));
  chmodSync(dir, 0o755);
  const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
  try {
    const url = cluster.url('postgres');
    const t0 = performance.now();
    await buildDatabase(url);
    console.error(`built 1,000 tables / 5,000,000 rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The services `serve` builds (main.ts), on a file store; the watch's posts go nowhere.
    const services = await buildServices({
      env: {
        DATABASE_URL: url,
        DBWARDEN_STORE: join(dir, 'store'),
        DBWARDEN_ENV: 'bench',
        LOG_LEVEL: 'silent',
        PATH: process.env.PATH ?? '',
      },
      consoleOutput: new PassThrough().resume(),
    });
    try {
      const command = services.commands.find((c) => c.name === 'db-status')!;
      const dbStatus = async () => {
        const started = performance.now();
        await command.run('', { id: 'bench', platform: 'console' }, { update: async () => {} });
        return performance.now() - started;
      };
      // Where a shown status's time goes (its own timings; the store lookups are the rest).
      const parts: Record<string, number[]> = {};
      const breakdown = async () => {
        const started = performance.now();
        const s = await services.shownStatus();
        const total = performance.now() - started;
        const own = {
          ...s.timings,
          'store and report': total - Object.values(s.timings).reduce((a, b) => a + b, 0),
        };
        for (const [k, v] of Object.entries(own)) parts[k] = [...(parts[k] ?? []), v];
      };
      // The old path: every watched table counted by this status (now `dbwarden status` only).
      const live = async () => {
        const started = performance.now();
        const s = await services.status();
        statusReport(s, services.config.timezone);
        return { ms: performance.now() - started, counts: s.timings.counts ?? 0 };
      };
      await services.watch();
      await dbStatus(); // warm the pool and the caches
      await live();
      const shown: number[] = [];
      const old: number[] = [];
      const counting: number[] = [];
      for (let i = 0; i < runs; i++) {
        // A run longer than the watch interval would fall back to counting live, as serve would after a missed round.
        if ((await services.shownStatus()).counts?.source !== 'watch') await services.watch();
        shown.push(await dbStatus());
        await breakdown();
        const l = await live();
        old.push(l.ms);
        counting.push(l.counts);
      }
      console.error(
        `shown status, median ms per part: ${Object.entries(parts)
          .map(([k, v]) => `${k} ${median(v).toFixed(1)}`)
          .join(', ')}`,
      );
      const p95 = percentile(shown, 95);
      return [
        {
          figure: '`/db-status` at 1,000 tables / 5 M rows (counts from the last watch round)',
          value: `p95 ${ms(p95)}, median ${ms(median(shown))}`,
          reference: `counting live: p95 ${ms(percentile(old, 95))}, median ${ms(median(old))} (the counts ${ms(median(counting))})`,
          target: `p95 ≤ ${TARGET_P95_MS} ms`,
          met: p95 <= TARGET_P95_MS,
        },
      ];
    } finally {
      await services.close();
    }
  } finally {
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) printTable(await bench());
