import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heavy, loaded } from './helpers/import-recorder.js';

/** Run the CLI's sources under tsx, as `npm run dbwarden` does. */
const fromSource = (args: string[]) => loaded(args, { cwd: resolve('.'), flags: ['--import', 'tsx'] });

describe('dbwarden --help loads no heavy SDK', () => {
  it('the recorder sees an SDK when one is imported (so an empty list below means something)', () => {
    const r = fromSource([
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
      const r = fromSource(['src/cli.ts', ...args.split(' ')]);
      expect(r.status).toBe(0);
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
    expect(none.status).toBe(0);
    expect(none.modules.some((m) => m.endsWith('/src/core/config.ts'))).toBe(true);
    expect(cron(none.modules)).toEqual([]);
    const set = read(`{ DBWARDEN_BACKUP_CRON: '30 2 * * *' }`);
    expect(set.status).toBe(0);
    expect(cron(set.modules).length).toBeGreaterThan(0);
  });
});
