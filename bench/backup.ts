/**
 * Backup throughput and memory: a generated database (BENCH_MB, default 200 MB), `dbwarden backup` (service.run:
 * dump + row counts + checks + checksum re-read) against a raw `pg_dump -Fc -f file` of the same database, run
 * alternately; the peak RSS of this process while dbwarden backs up; and a restore drill. Prints figures,
 * asserts nothing. `npm run bench:backup`; `BENCH_MB=1024 npm run bench:backup` for the 1 GB run.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createBackupService } from '../src/backup/backup-service.js';
import { findTool, toolEnv } from '../src/backup/pg-tools.js';
import { verifyAndRecord } from '../src/backup/verify.js';
import { loadConfig } from '../src/core/config.js';
import { formatBytes } from '../src/core/format.js';
import { createLogger } from '../src/core/log.js';
import { createTarget } from '../src/core/target.js';
import { startCluster } from '../src/demo/cluster.js';
import { createFileStore } from '../src/store/file-store.js';

const MB = Number(process.env.BENCH_MB ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-backup-'));
chmodSync(dir, 0o755);
const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
try {
  const url = cluster.url('postgres');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  // Rows of an app's event log: ids, a foreign key, a timestamp and ~100 bytes of text that compresses like real data.
  await client.query(
    `CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, at timestamptz NOT NULL, kind text, payload text)`,
  );
  await client.query(`CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL)`);
  await client.query(
    `INSERT INTO accounts (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 10000) i`,
  );
  const batch = Math.max(50_000, Math.min(500_000, MB * 1000));
  for (;;) {
    const size = Number((await client.query(`SELECT pg_database_size(current_database()) AS s`)).rows[0].s);
    if (size >= MB * 1024 * 1024) break;
    await client.query(
      `INSERT INTO events (account_id, at, kind, payload)
       SELECT (random() * 9999)::int + 1, now() - random() * interval '365 days',
              (ARRAY['login','purchase','refund','view'])[1 + (random() * 3)::int],
              md5(random()::text) || ' ' || md5(random()::text) || ' ' || repeat('x', (random() * 40)::int)
         FROM generate_series(1, $1::int)`,
      [batch],
    );
  }
  await client.query('VACUUM ANALYZE');
  const dbSize = Number((await client.query(`SELECT pg_database_size(current_database()) AS s`)).rows[0].s);
  const rows = Number((await client.query('SELECT count(*) AS n FROM events')).rows[0].n);
  await client.end();
  console.log(
    `generated ${formatBytes(dbSize)} (${rows.toLocaleString('en-US')} event rows) in ${sec(performance.now() - t0)}`,
  );

  const config = loadConfig({ DATABASE_URL: url, DBWARDEN_STORE: join(dir, 'store') });
  const target = createTarget(url, {
    environment: 'bench',
    connectTimeoutMs: 5000,
    statementTimeoutMs: 10_000,
  });
  const store = createFileStore(join(dir, 'store'));
  const logger = createLogger({
    level: 'warn',
    redact: (s) => s,
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
  });
  const service = createBackupService({ target, store, config, logger });
  const pgDump = await findTool('pg_dump', null);

  const raw = async () => {
    const file = join(dir, 'raw.dump');
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(pgDump.path, ['-Fc', `-Z${config.backup.compression}`, '-f', file], {
        env: toolEnv(target.libpqEnv()),
        stdio: 'inherit',
      });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_dump exit ${code}`))));
    });
    const ms = performance.now() - started;
    const size = statSync(file).size;
    rmSync(file);
    return { ms, size };
  };

  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const ours = async () => {
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 25);
    const phases: Record<string, number> = {};
    const started = performance.now();
    try {
      const m = await service.run({
        requestedBy: 'bench',
        onProgress: (p) => {
          phases[p.phase] ??= performance.now() - started;
        },
      });
      const ms = performance.now() - started;
      return { ms, size: m.sizeBytes, m, phases };
    } finally {
      clearInterval(sampler);
    }
  };

  // Warm-up: the first dump after loading pays for hint bits and cold caches; neither side should get that bill.
  await raw();
  const rawTimes: number[] = [];
  const ourTimes: number[] = [];
  let last: Awaited<ReturnType<typeof ours>> | null = null;
  for (let i = 0; i < ROUNDS; i++) {
    const r = await raw();
    rawTimes.push(r.ms);
    last = await ours();
    ourTimes.push(last.ms);
    console.log(
      `round ${i + 1}: raw pg_dump ${sec(r.ms)} (${formatBytes(r.size)}), dbwarden backup ${sec(last.ms)} (${formatBytes(last.size)})`,
    );
  }
  const best = (xs: number[]) => Math.min(...xs);
  const p = last!.phases;
  console.log(
    `dbwarden phases (last run): dump done at ${sec(p.publishing ?? 0)}, checksum re-read and manifest until ${sec(last!.ms)}`,
  );
  console.log(
    `wall time, best of ${ROUNDS}: raw pg_dump -Fc -f ${sec(best(rawTimes))}, dbwarden backup ${sec(best(ourTimes))}, ratio ${(best(ourTimes) / best(rawTimes)).toFixed(3)} (target ≤ 1.05)`,
  );
  console.log(
    `peak RSS of this process during backups: ${formatBytes(peakRss)} (before: ${formatBytes(rssBefore)}; target < 150 MB, flat with size)`,
  );

  const pgRestore = await findTool('pg_restore', null);
  const drillStarted = performance.now();
  const v = await verifyAndRecord(
    { store, catalog: service.catalog, pgRestore, target, drillUrl: null },
    last!.m,
    { drill: true },
  );
  console.log(
    `restore drill: ${v.manifest.drill?.ok ? 'ok' : `FAILED ${v.manifest.drill?.problem}`}, ${v.manifest.drill?.rows.toLocaleString('en-US')} rows in ${sec(performance.now() - drillStarted)} (drill itself ${sec(v.manifest.drill?.durationMs ?? 0)})`,
  );
  await target.close();
} finally {
  cluster.destroy();
  rmSync(dir, { recursive: true, force: true });
}
