/**
 * What a backup costs next to the pg_dump it runs. Generates an app-like database (BENCH_MB, default 200 MB:
 * users, transactions, events with random text), then runs, alternated and in both orders, a raw
 * `pg_dump -Fc -Z6 -f file`, the built CLI's `dbwarden backup` into a file store and the same backup encrypted, each
 * as a whole process under GNU time (wall, CPU, peak RSS of the process tree), with node's own peak RSS read apart
 * (own-peak.cjs). Reports medians, the ratios and the phase breakdown the manifests record. Prints figures; asserts
 * nothing. `npm run build` first; `npm run bench:backup`; `BENCH_MB=1024` for 1 GB, `BENCH_MB=100,1000` for each
 * size in turn (the database grows between them) and whether node's peak stays flat; `BENCH_PGDIR=/some/dir` keeps
 * (and reuses) the generated cluster between runs.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { findTool } from '../src/backup/pg-tools.js';
import { formatBytes } from '../src/core/format.js';
import { startCluster } from '../src/demo/cluster.js';
import type { BackupManifest, BackupTimings } from '../src/store/manifest.js';
import { type BenchRow, measureProcess, median, printTable } from './table.js';

/** Database sizes to measure, smallest first: one database, grown between them. */
const SIZES = (process.env.BENCH_MB ?? '200')
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
if (SIZES.some((n) => !(n > 0))) throw new Error('BENCH_MB: a size in MB, or sizes separated by commas');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** Fill the database up to `mb` of pg_database_size: what an app's tables hold, text that compresses like data. */
async function generate(url: string, mb: number): Promise<{ bytes: number; rows: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const size = async () =>
      Number((await client.query(`SELECT pg_database_size(current_database()) AS s`)).rows[0].s);
    const exists = (await client.query(`SELECT to_regclass('public.events') IS NOT NULL AS t`)).rows[0].t;
    if (!exists) {
      await client.query(
        `CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, created_at timestamptz)`,
      );
      await client.query(
        `CREATE TABLE transactions (id bigserial PRIMARY KEY, user_id int NOT NULL, amount_cents bigint NOT NULL,
           currency text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)`,
      );
      await client.query(
        `CREATE TABLE events (id bigserial PRIMARY KEY, user_id int NOT NULL, at timestamptz NOT NULL, kind text,
           payload text)`,
      );
      await client.query(
        `INSERT INTO users (email, created_at)
         SELECT 'user' || i || '@example.com', now() - random() * interval '3 years' FROM generate_series(1, 20000) i`,
      );
    }
    // 8 transactions for 5 events, as the issue's 800k/500k database (~180 MB), ~33 MB a step.
    const batch = 20_000;
    while ((await size()) < mb * 1024 * 1024) {
      await client.query(
        `INSERT INTO transactions (user_id, amount_cents, currency, status, created_at)
         SELECT (random() * 19999)::int + 1, (random() * 100000)::bigint,
                (ARRAY['EUR','USD','GBP'])[1 + (random() * 2)::int],
                (ARRAY['paid','refunded','pending','failed'])[1 + (random() * 3)::int],
                now() - random() * interval '365 days'
           FROM generate_series(1, $1::int)`,
        [batch * 8],
      );
      await client.query(
        `INSERT INTO events (user_id, at, kind, payload)
         SELECT (random() * 19999)::int + 1, now() - random() * interval '365 days',
                (ARRAY['login','purchase','refund','view'])[1 + (random() * 3)::int],
                md5(random()::text) || ' ' || md5(random()::text) || ' ' || repeat('x', (random() * 40)::int)
           FROM generate_series(1, $1::int)`,
        [batch * 5],
      );
    }
    await client.query('VACUUM ANALYZE');
    const rows = (await client.query(`SELECT sum(n_live_tup)::bigint AS n FROM pg_stat_user_tables`)).rows[0]
      .n;
    return { bytes: await size(), rows: Number(rows) };
  } finally {
    await client.end();
  }
}

/** Side-by-side figures of raw pg_dump and `dbwarden backup` on a generated database of each BENCH_MB size. */
export async function bench(): Promise<BenchRow[]> {
  if (!existsSync('dist/cli.js'))
    throw new Error('run `npm run build` first: the benchmark runs dist/cli.js');
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-backup-'));
  chmodSync(dir, 0o755);
  const pgDir = process.env.BENCH_PGDIR ?? join(dir, 'pg');
  mkdirSync(pgDir, { recursive: true });
  chmodSync(pgDir, 0o755);
  // A cluster there that dbwarden did not create (no password file) is never touched: startCluster would re-create it.
  if (existsSync(join(pgDir, 'data', 'PG_VERSION')) && !existsSync(join(pgDir, 'password')))
    throw new Error(
      `BENCH_PGDIR ${pgDir} holds a PostgreSQL cluster this benchmark did not create: pick another directory`,
    );
  // A server already running there (started by hand, or left by an interrupted run) is used, and left running.
  const othersServer = serverRunning(join(pgDir, 'data'));
  const cluster = await startCluster({ dir: pgDir, fast: true });
  try {
    const url = cluster.url('postgres');
    const pgDump = await findTool('pg_dump', null);
    const storeDir = join(dir, 'store');
    const rawFile = join(dir, 'raw.dump');
    const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    const p = new URL(url);
    const libpq = {
      ...base,
      PGHOST: p.hostname,
      PGPORT: p.port,
      PGUSER: decodeURIComponent(p.username),
      PGPASSWORD: decodeURIComponent(p.password),
      PGDATABASE: p.pathname.slice(1),
    };
    // The same compression dbwarden uses by default (DBWARDEN_BACKUP_COMPRESSION=6), written to a file: the
    // reference is what an operator would run by hand.
    const raw = () => {
      const m = measureProcess([pgDump.path, '-Fc', '-Z6', '-f', rawFile], libpq);
      const size = statSync(rawFile).size;
      rmSync(rawFile);
      return { ...m, size };
    };
    // node's own peak, apart from pg_dump's and pg_restore's (see own-peak.cjs).
    const peakFile = join(dir, 'own-peak');
    const env = {
      ...base,
      DATABASE_URL: url,
      DBWARDEN_STORE: storeDir,
      LOG_LEVEL: 'warn',
      BENCH_OWN_PEAK_FILE: peakFile,
    };
    const backupArgv = [process.execPath, '-r', './bench/own-peak.cjs', 'dist/cli.js', 'backup', '--json'];
    const ownPeakKb = () => Number(readFileSync(peakFile, 'utf8'));
    const ours = () => {
      const m = measureProcess(backupArgv, env);
      return { ...m, nodeKb: ownPeakKb(), manifest: newestManifest(storeDir) };
    };
    // Issue 16's figure: the same backup encrypted to a fresh age recipient, into a store of its own.
    const age = await import('age-encryption');
    const sealedStore = join(dir, 'sealed-store');
    const sealedEnv = {
      ...env,
      DBWARDEN_STORE: sealedStore,
      DBWARDEN_AGE_RECIPIENTS: await age.identityToRecipient(await age.generateX25519Identity()),
    };
    const sealed = () => {
      const m = measureProcess(backupArgv, sealedEnv);
      return { ...m, nodeKb: ownPeakKb(), manifest: newestManifest(sealedStore) };
    };

    const rows: BenchRow[] = [];
    const peaks: { size: string; nodeKb: number; sealedKb: number }[] = [];
    for (const target of SIZES) {
      const t0 = performance.now();
      const db = await generate(url, target);
      console.error(
        `database: ${formatBytes(db.bytes)}, ${db.rows.toLocaleString('en-US')} rows (${((performance.now() - t0) / 1000).toFixed(0)} s to generate)`,
      );
      const measured = measureAt(formatBytes(db.bytes));
      rows.push(...measured.rows);
      peaks.push(measured);
    }
    if (peaks.length > 1) {
      const flat = (kb: (p: (typeof peaks)[number]) => number) => {
        const all = peaks.map(kb);
        return Math.max(...all) <= Math.min(...all) * 1.1;
      };
      const across = (kb: (p: (typeof peaks)[number]) => number) =>
        peaks.map((p) => `${mb(kb(p))} at ${p.size}`).join(', ');
      rows.push(
        {
          figure: 'peak RSS of the node process of `dbwarden backup` across database sizes',
          value: across((p) => p.nodeKb),
          target: '≤ 100 MB, flat with size (within 10 %)',
          met: flat((p) => p.nodeKb) && Math.max(...peaks.map((p) => p.nodeKb)) <= 100 * 1024,
        },
        {
          figure: 'peak RSS of an encrypted `dbwarden backup` across database sizes',
          value: across((p) => p.sealedKb),
          target: 'flat with size (within 10 %)',
          met: flat((p) => p.sealedKb),
        },
      );
    }
    return rows;

    /** Every figure at the database's current size (`size`, as printed). */
    function measureAt(size: string): { rows: BenchRow[]; size: string; nodeKb: number; sealedKb: number } {
      // Warm-up, every side: the first reads after generating pay for hint bits and cold caches.
      raw();
      ours();
      sealed();
      const rawRuns: ReturnType<typeof raw>[] = [];
      const ourRuns: ReturnType<typeof ours>[] = [];
      const sealedRuns: ReturnType<typeof sealed>[] = [];
      const loads: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        // A B C, then C B A: a machine that gets busier or quieter during the run does not favour one side.
        const sides = [
          () => rawRuns.push(raw()),
          () => ourRuns.push(ours()),
          () => sealedRuns.push(sealed()),
        ];
        for (const run of i % 2 === 0 ? sides : sides.reverse()) run();
        loads.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
        const [a, b, c] = [rawRuns.at(-1)!, ourRuns.at(-1)!, sealedRuns.at(-1)!];
        console.error(
          `round ${i + 1}: pg_dump ${a.s.toFixed(2)} s ${mb(a.kb)}, dbwarden backup ${b.s.toFixed(2)} s ${mb(b.nodeKb)} (ratio ${(b.s / a.s).toFixed(3)}), encrypted ${c.s.toFixed(2)} s ${mb(c.nodeKb)}`,
        );
      }
      const rawS = median(rawRuns.map((r) => r.s));
      const ourS = median(ourRuns.map((r) => r.s));
      const ratio = median(ourRuns.map((r, i) => r.s / rawRuns[i]!.s));
      const cpuRatio = median(ourRuns.map((r, i) => r.cpu / rawRuns[i]!.cpu));
      const nodeKb = median(ourRuns.map((r) => r.nodeKb));
      const treeKb = median(ourRuns.map((r) => r.kb));
      const timed = ourRuns.filter((r) => r.manifest.timings);
      const phase = (k: keyof BackupTimings) => median(timed.map((r) => r.manifest.timings![k]));
      // What the manifest does not time: node's start-up and loading, opening the services (config, store, the
      // connection), the manifest write, retention, the unlock, exit, and any wait between timed phases.
      const rest = median(
        timed.map((r) => {
          const t = r.manifest.timings!;
          return r.s * 1000 - (t.prepareMs + t.dumpMs + t.checksumMs + t.listMs + t.publishMs);
        }),
      );
      const sealedRatio = median(sealedRuns.map((r, i) => r.s / ourRuns[i]!.s));
      const sealedKb = median(sealedRuns.map((r) => r.nodeKb));
      return {
        size,
        nodeKb,
        sealedKb,
        rows: [
          {
            figure: `\`dbwarden backup\` wall, ${size} database (${ROUNDS} alternated rounds, load ${median(loads).toFixed(1)})`,
            value: `${ourS.toFixed(2)} s`,
            reference: `raw \`pg_dump -Fc -Z6 -f\`: ${rawS.toFixed(2)} s`,
            target: '',
          },
          {
            figure: `\`dbwarden backup\` ÷ raw \`pg_dump\`, wall (median of per-round ratios), ${size}`,
            value: ratio.toFixed(3),
            target: '≤ 1.05',
            met: ratio <= 1.05,
          },
          {
            figure: '`dbwarden backup` ÷ raw `pg_dump`, CPU time of the process tree (user + system)',
            value: cpuRatio.toFixed(3),
            reference: `pg_dump: ${median(rawRuns.map((r) => r.cpu)).toFixed(1)} s CPU`,
            target: '',
          },
          {
            figure: `peak RSS of the node process of \`dbwarden backup\` (its own getrusage), ${size}`,
            value: `${mb(nodeKb)} (the process tree by GNU time: ${mb(treeKb)})`,
            reference: `pg_dump alone: ${mb(median(rawRuns.map((r) => r.kb)))}`,
            target: '≤ 100 MB, flat with size',
            met: nodeKb <= 100 * 1024,
          },
          {
            figure: 'where the time of a backup goes (manifest timings, medians)',
            value: timed.length
              ? `pg_dump ${phase('dumpMs')} ms; before it ${phase('prepareMs')} ms; after it: sync + read-back hash ${phase('checksumMs')} ms, listing ${phase('listMs')} ms, publish ${phase('publishMs')} ms; the rest (node start-up and loading, opening the services, manifest, retention, unlock, exit) ${Math.round(rest)} ms; row counts ${phase('countsMs')} ms${phase('encryptMs') ? ` and encryption ${phase('encryptMs')} ms` : ''} alongside the dump`
              : 'no timings recorded',
            reference: `dump ${formatBytes(median(rawRuns.map((r) => r.size)))}`,
            target: '',
          },
          {
            figure: `encrypted (age) ÷ plain \`dbwarden backup\`, wall (median of per-round ratios), ${size}`,
            value: `${sealedRatio.toFixed(3)} (${median(sealedRuns.map((r) => r.s)).toFixed(2)} s; encrypting ${median(sealedRuns.map((r) => r.manifest.timings?.encryptMs ?? 0))} ms alongside the dump)`,
            target: '≤ 1.10',
            met: sealedRatio <= 1.1,
          },
          {
            figure: `peak RSS of an encrypted \`dbwarden backup\`, ${size}`,
            value: mb(sealedKb),
            reference: `plain: ${mb(nodeKb)}`,
            target: 'unchanged',
            met: sealedKb <= nodeKb * 1.05,
          },
        ],
      };
    }
  } finally {
    if (!process.env.BENCH_PGDIR) cluster.destroy();
    else if (!othersServer) cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (kb: number) => `${Math.round(kb / 1024)} MB`;

/** A postmaster runs on `data`: its pid file names a live process (a stale file after a crash does not count). */
function serverRunning(data: string): boolean {
  const pidFile = join(data, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, another user's (the server runs as an unprivileged user when we are root).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The manifest of the newest backup in a file store (ids sort by time). */
function newestManifest(storeDir: string): BackupManifest {
  const backups = join(storeDir, 'backups');
  const newest = readdirSync(backups)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .at(-1);
  return JSON.parse(readFileSync(join(backups, newest!), 'utf8'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await bench());
