import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The SDKs a verb must load only when it uses them (issue 14): chat, S3, the SQL parser, age (~200 ms). */
const HEAVY = [
  /\/node_modules\/@slack\/bolt\//,
  /\/node_modules\/discord\.js\//,
  /\/node_modules\/@aws-sdk\//,
  /\/node_modules\/libpg-query\//,
  /\/node_modules\/age-encryption\//,
];

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

/** Run node with the recorder; returns what it printed and every module it loaded. */
function loaded(args: string[]): { out: string; status: number | null; modules: string[] } {
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', join(dir, 'record.mjs'), ...args], {
    cwd: resolve('.'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { out: r.stdout, status: r.status, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const heavy = (modules: string[]) => modules.filter((m) => HEAVY.some((re) => re.test(m)));

describe('dbwarden --help loads no heavy SDK', () => {
  it('the recorder sees an SDK when one is imported (so an empty list below means something)', () => {
    const r = loaded([
      '--input-type=module',
      '-e',
      "await import('@slack/bolt'); await import('libpg-query'); await import('age-encryption');",
    ]);
    expect(r.status).toBe(0);
    expect(heavy(r.modules).some((m) => m.includes('/age-encryption/'))).toBe(true);
    expect(heavy(r.modules).some((m) => m.includes('/@slack/bolt/'))).toBe(true);
    expect(heavy(r.modules).some((m) => m.includes('/libpg-query/'))).toBe(true);
  });

  it.each(['--help', '--version', 'backup --help', 'keygen --help'])(
    '`dbwarden %s` loads none of @slack/bolt, discord.js, @aws-sdk/*, libpg-query, age-encryption',
    (args) => {
      const r = loaded(['src/cli.ts', ...args.split(' ')]);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(/dbwarden|Usage/);
      // It did load the CLI's own modules: the recorder was listening.
      expect(r.modules.some((m) => m.endsWith('/src/cli.ts'))).toBe(true);
      expect(heavy(r.modules)).toEqual([]);
    },
  );
});
