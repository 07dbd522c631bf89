/**
 * How fast each verb starts, as whole processes of the built CLI (`npm run build` first): wall time and peak RSS,
 * medians over alternated runs next to a bare `node -e ''` on the same machine in the same run (A B A B), so a
 * busy machine shows up in the baseline too. Prints figures; asserts nothing. `npm run bench:start`.
 * `status --json` runs against a throwaway local PostgreSQL with a file store.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../src/demo/cluster.js';
import { seedDemo } from '../src/demo/seed.js';
import { type BenchRow, measureProcess, median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

/** Start-up of `--help`, `--version` and `status --json` next to `node -e ''`, medians of alternated runs. */
export async function bench(): Promise<BenchRow[]> {
  if (!existsSync('dist/cli.js'))
    throw new Error('run `npm run build` first: the benchmark starts dist/cli.js');
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-start-'));
  chmodSync(dir, 0o755);
  const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
  try {
    const url = cluster.url('postgres');
    await seedDemo(url);
    const base: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    const withDb = { ...base, DATABASE_URL: url, DBWARDEN_STORE: join(dir, 'store'), LOG_LEVEL: 'silent' };
    const cases: [string, string[], NodeJS.ProcessEnv, number, number][] = [
      ["node -e ''", [process.execPath, '-e', ''], base, 0, 0],
      ['dbwarden --help', [process.execPath, 'dist/cli.js', '--help'], base, 0.3, 60],
      ['dbwarden --version', [process.execPath, 'dist/cli.js', '--version'], base, 0.3, 60],
      ['dbwarden status --json', [process.execPath, 'dist/cli.js', 'status', '--json'], withDb, 0.6, 0],
    ];
    const results = new Map(cases.map(([name]) => [name, { s: [] as number[], kb: [] as number[] }]));
    for (let i = 0; i < RUNS; i++)
      for (const [name, argv, env] of cases) {
        const m = measureProcess(argv, env);
        results.get(name)!.s.push(m.s);
        results.get(name)!.kb.push(m.kb);
      }
    const fig = (name: string) => {
      const r = results.get(name)!;
      return { s: median(r.s), mb: Math.round(median(r.kb) / 1024) };
    };
    const node = fig("node -e ''");
    return cases.slice(1).map(([name, , , maxS, maxMb]) => {
      const f = fig(name);
      return {
        figure: `\`${name}\` (${RUNS} alternated runs)`,
        value: `${f.s.toFixed(2)} s, ${f.mb} MB`,
        reference: `\`node -e ''\`: ${node.s.toFixed(2)} s, ${node.mb} MB`,
        target: `≤ ${maxS} s${maxMb ? `, ≤ ${maxMb} MB` : ''}`,
        met: f.s <= maxS && (!maxMb || f.mb <= maxMb),
      };
    });
  } finally {
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await bench());
