import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heavy, loaded } from './helpers/import-recorder.js';

/** Run the CLI's sources under tsx, as `npm run dbwarden` does (its alias hooks too). */
const fromSource = (args: string[]) =>
  loaded(args, { cwd: resolve('.'), flags: ['--import', 'tsx', '--import', './scripts/alias-hooks.mjs'] });

/** One of each kind the recorder must catch (for @aws-sdk/*, the client dbwarden uses). */
const SDKS = [
  '@slack/bolt',
  'discord.js',
  '@aws-sdk/client-s3',
  'libpg-query',
  'age-encryption',
  'prom-client',
  'node-cron',
];

describe('dbwarden --help loads no heavy SDK', () => {
  it('the recorder sees an SDK when one is imported (so an empty list below means something)', () => {
    const r = fromSource([
      '--input-type=module',
      '-e',
      `for (const m of ${JSON.stringify(SDKS)}) await import(m);`,
    ]);
    expect(r.status, r.err).toBe(0);
    for (const m of SDKS) expect(heavy(r.modules).some((u) => u.includes(`/node_modules/${m}/`))).toBe(true);
  });

  it.each(['--help', '--version', 'backup --help', 'keygen --help'])(
    '`dbwarden %s` loads none of @slack/bolt, discord.js, @aws-sdk/*, libpg-query, age-encryption, prom-client, node-cron',
    (args) => {
      const r = fromSource(['src/cli.ts', ...args.split(' ')]);
      expect(r.status, r.err).toBe(0);
      expect(r.out).toMatch(/dbwarden|Usage/);
      // It did load the CLI's own modules: the recorder was listening.
      expect(r.modules.some((m) => m.endsWith('/src/cli.ts'))).toBe(true);
      expect(heavy(r.modules)).toEqual([]);
    },
  );

  it('reading the configuration loads node-cron only when a cron variable is set (its defaults are known good)', () => {
    const read = (env: string) =>
      fromSource([
        '--input-type=module',
        '-e',
        `const { loadConfig } = await import('./src/core/config.ts'); loadConfig(${env});`,
      ]);
    const cron = (modules: string[]) => modules.filter((m) => m.includes('/node_modules/node-cron/'));
    const none = read('{}');
    expect(none.status, none.err).toBe(0);
    expect(none.modules.some((m) => m.endsWith('/src/core/config.ts'))).toBe(true);
    expect(cron(none.modules)).toEqual([]);
    const set = read(`{ DBWARDEN_BACKUP_CRON: '30 2 * * *' }`);
    expect(set.status, set.err).toBe(0);
    expect(cron(set.modules).length).toBeGreaterThan(0);
  });
});
