import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What a verb must load only when it uses it (issue 14): the chat SDKs, S3, the SQL parser, age (~200 ms), metrics
 * (prom-client, at the first /metrics scrape) and the scheduler (node-cron, when a cron variable is set or serve runs).
 */
const HEAVY = [
  /\/node_modules\/@slack\/bolt\//,
  /\/node_modules\/discord\.js\//,
  /\/node_modules\/@aws-sdk\//,
  /\/node_modules\/libpg-query\//,
  /\/node_modules\/age-encryption\//,
  /\/node_modules\/prom-client\//,
  /\/node_modules\/node-cron\//,
];

/** Which of `modules` are heavy SDKs. (A bundled dist holds age in a chunk of its own: its SDK rows are the others.) */
export const heavy = (modules: string[]) => modules.filter((m) => HEAVY.some((re) => re.test(m)));

const dir = mkdtempSync(join(tmpdir(), 'dbwarden-imports-'));
const log = join(dir, 'loaded.txt');
// A resolve hook (every ESM import, ours and tsx's) plus, at exit, the CommonJS cache (what packages require inside).
writeFileSync(
  join(dir, 'hooks.mjs'),
  `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
);
writeFileSync(
  join(dir, 'record.mjs'),
  `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(${JSON.stringify(log)}, Object.keys(cache).join('\\n') + '\\n'));
`,
);

/**
 * Run node (with `flags`, e.g. tsx) under the recorder; returns what it printed (stdout, and stderr for a failure's
 * message) and every module it loaded.
 */
export function loaded(
  args: string[],
  o: { cwd: string; flags?: string[] },
): { out: string; err: string; status: number | null; modules: string[] } {
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, [...(o.flags ?? []), '--import', join(dir, 'record.mjs'), ...args], {
    cwd: o.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return {
    out: r.stdout,
    err: r.stderr,
    status: r.status,
    modules: readFileSync(log, 'utf8').split('\n').filter(Boolean),
  };
}
