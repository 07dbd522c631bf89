/**
 * What every benchmark shares: whole-process measurement, medians, and the one table `npm run bench` prints.
 * Each bench module exports `bench(): Promise<BenchRow[]>` and prints its own rows when run alone.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';

/** One figure of the table: what was measured, next to its reference and its target. */
export interface BenchRow {
  figure: string;
  value: string;
  /** The same figure of the reference run alternated with it (raw pg_dump, `node -e ''`), when there is one. */
  reference?: string;
  target: string;
  met?: boolean;
}

/** The median of a non-empty list. */
export const median = (xs: number[]): number => percentile(xs, 50);

/** The p-th percentile (nearest rank) of a non-empty list. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const GNU_TIME = '/usr/bin/time';

/**
 * One whole process as GNU time accounts it: wall seconds, peak RSS in KB (the largest of the process and the
 * children it waited for), and CPU seconds (user + system) of the process and those children.
 */
export function measureProcess(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { s: number; kb: number; cpu: number } {
  const r = spawnSync(GNU_TIME, ['-f', '%e %M %U %S', ...argv], { env, encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    throw new Error(
      `the benchmarks measure whole processes with GNU time, and there is no ${GNU_TIME}: install it (Debian and Ubuntu: apt-get install time)`,
    );
  if (r.error) throw r.error;
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [s, kb, user, sys] = last.split(' ').map(Number);
  if (r.status !== 0 || !Number.isFinite(s) || !Number.isFinite(kb))
    throw new Error(`no timing from ${argv.join(' ')} (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  return { s: s!, kb: kb!, cpu: (user ?? 0) + (sys ?? 0) };
}

/** The machine line printed above every table: figures mean nothing without it. */
export function machineLine(): string {
  const [l1] = loadavg();
  return `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load average ${l1!.toFixed(1)}, node ${process.version}`;
}

/** Prints rows as one Markdown table (the README's shape). */
export function printTable(rows: BenchRow[]): void {
  console.log(machineLine());
  console.log('| figure | measured | reference | target | met |');
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.figure} | ${r.value} | ${r.reference ?? ''} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'yes' : 'no'} |`,
    );
}
