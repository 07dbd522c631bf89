import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolVersion } from '../src/backup/pg-tools.js';

describe('pg_dump/pg_restore versions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbw-tools-'));
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = join(dir, 'cache');
  afterAll(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  const fake = join(dir, 'pg_dump');
  const cachedVersion = () => {
    try {
      return JSON.parse(readFileSync(join(dir, 'cache', 'dbwarden', 'pg-tools.json'), 'utf8'))[fake]?.version;
    } catch {
      return null;
    }
  };
  const install = (version: string, marker: string) => {
    writeFileSync(fake, `#!/bin/sh\necho x >> ${marker}\necho "pg_dump (PostgreSQL) ${version}"\n`);
    chmodSync(fake, 0o755);
  };

  it('are asked once per binary, kept in the cache directory, and asked again when the binary changes', async () => {
    const runs = join(dir, 'runs');
    install('15.2', runs);
    expect((await toolVersion('pg_dump', fake)).version).toBe('15.2');
    expect((await toolVersion('pg_dump', fake)).version).toBe('15.2');
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(1);
    await expect.poll(cachedVersion).toBe('15.2');
    // An upgrade in place (a new file): the old answer is not trusted.
    install('16.1', runs);
    const upgraded = await toolVersion('pg_dump', fake);
    expect(upgraded).toMatchObject({ version: '16.1', major: 16 });
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(2);
    // The cache is written in the background: the new answer replaces the old one there too (and the directory is
    // only removed once that write is done).
    await expect.poll(cachedVersion).toBe('16.1');
  });
});
