/**
 * How fast each verb starts, as whole processes of the built CLI (`npm run build` first): wall time and peak RSS,
 * medians over alternated runs next to a bare `node -e ''` on the same machine in the same run (A B A B), so a
 * busy machine shows up in the baseline too. Prints figures; asserts nothing. `npm run bench:start`.
 * `status --json` runs against a throwaway local PostgreSQL with a file store.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../src/demo/cluster.js';
import { seedDemo } from '../src/demo/seed.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
if (!existsSync('dist/cli.js'))
  throw new Error('run `npm run build` first: the benchmark starts dist/cli.js');

/** One whole process: wall seconds and peak RSS (KB) as GNU time reports them. */
function measure(argv: string[], env: NodeJS.ProcessEnv): { s: number; kb: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], { env, encoding: 'utf8' });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [s, kb] = last.split(' ').map(Number);
  if (!Number.isFinite(s) || !Number.isFinite(kb))
    throw new Error(`no timing from ${argv.join(' ')}: ${r.stderr}`);
  return { s: s!, kb: kb! };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-start-'));
chmodSync(dir, 0o755);
const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
try {
  const url = cluster.url('postgres');
  await seedDemo(url);
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  const withDb = { ...base, DATABASE_URL: url, DBWARDEN_STORE: join(dir, 'store'), LOG_LEVEL: 'silent' };
  const cases: [string, string[], NodeJS.ProcessEnv][] = [
    ["node -e ''", [process.execPath, '-e', ''], base],
    ['dbwarden --help', [process.execPath, 'dist/cli.js', '--help'], base],
    ['dbwarden --version', [process.execPath, 'dist/cli.js', '--version'], base],
    ['dbwarden status --json', [process.execPath, 'dist/cli.js', 'status', '--json'], withDb],
  ];
  const results = new Map(cases.map(([name]) => [name, { s: [] as number[], kb: [] as number[] }]));
  for (let i = 0; i < RUNS; i++)
    for (const [name, argv, env] of cases) {
      const m = measure(argv, env);
      results.get(name)!.s.push(m.s);
      results.get(name)!.kb.push(m.kb);
    }
  console.log(`${RUNS} runs each, alternated; medians`);
  console.log('| command | wall | peak RSS |');
  console.log('|---|---|---|');
  for (const [name, r] of results)
    console.log(`| \`${name}\` | ${median(r.s).toFixed(2)} s | ${Math.round(median(r.kb) / 1024)} MB |`);
} finally {
  cluster.stop();
}
