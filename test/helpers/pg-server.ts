import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { pgServerNative, pgServerPackage } from '../../scripts/pg-servers.mjs';
import { type LocalCluster, startCluster } from '../../src/demo/cluster.js';
import { adminQuery } from './cluster.js';

// Where a server of another PostgreSQL major comes from: the npm registry's relocatable build, which `npm test`
// fetches once into .cache/pg<major> (scripts/pg-servers.mjs; not a package dependency, so installs of dbwarden do
// not download it).
/**
 * The package's native/ directory (bin/, lib/, share/), or why there is none. PG<major>_NATIVE (e.g. PG13_NATIVE)
 * points at an unpacked copy instead (for running these tests without the package fetched).
 */
export async function findPgServer(major: number): Promise<{ native: string } | { missing: string }> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return {
      missing: `PostgreSQL ${major} binaries are packaged for linux-x64 only (this is ${process.platform}-${process.arch})`,
    };
  const own = process.env[`PG${major}_NATIVE`];
  const native = own ?? pgServerNative(major);
  if (!existsSync(join(native, 'bin', 'postgres')))
    return {
      missing: own
        ? `no PostgreSQL ${major} server in PG${major}_NATIVE (${native})`
        : `${pgServerPackage(major)} is not in .cache/pg${major} (\`npm test\` fetches it; \`node scripts/pg-servers.mjs ${major}\` does alone)`,
    };
  return { native };
}

/** Create the library symlinks the package lists (npm's postinstall does this, unless scripts were skipped). */
function hydrateSymlinks(native: string): void {
  const list = join(native, 'pg-symlinks.json');
  if (!existsSync(list)) return;
  const root = dirname(native);
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8')) as {
    source: string;
    target: string;
  }[]) {
    const at = join(root, target);
    if (existsSync(at) || lstatSync(at, { throwIfNoEntry: false })) continue;
    symlinkSync(relative(dirname(at), join(root, source)), at);
  }
}

/** Can the unprivileged user the server runs as (when we are root) execute files under `dir`? */
function runUserCanExecute(path: string): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return true;
  const user = process.env.PG_RUN_AS ?? 'postgres';
  return spawnSync('runuser', ['-u', user, '--', 'test', '-x', path]).status === 0;
}

export interface PgServerCluster {
  cluster: LocalCluster;
  /** Superuser URL of the "app" database. */
  url: string;
  sql(text: string): Promise<pg.QueryResult>;
}

/**
 * A throwaway cluster of that major for one test file (or describe block), with an "app" database; `null` in
 * `handle.current` when the server is missing (findPgServer said why).
 */
export function usePgServerCluster(found: { native: string } | { missing: string }): {
  current: PgServerCluster | null;
} {
  const handle: { current: PgServerCluster | null } = { current: null };
  let dir = '';
  let copy = '';
  beforeAll(async () => {
    if ('missing' in found) return;
    let native = found.native;
    hydrateSymlinks(native);
    if (!runUserCanExecute(join(native, 'bin', 'postgres'))) {
      // The server runs as an unprivileged user who may not reach node_modules: give it a copy it can.
      copy = mkdtempSync(join(tmpdir(), 'dbwarden-pg-bin-'));
      cpSync(native, join(copy, basename(native)), { recursive: true, verbatimSymlinks: true });
      spawnSync('chmod', ['-R', 'a+rX', copy]);
      native = join(copy, basename(native));
    }
    dir = mkdtempSync(join(tmpdir(), 'dbwarden-pg-'));
    const cluster = await startCluster({
      dir,
      fast: true,
      bin: join(native, 'bin'),
      libDir: join(native, 'lib'),
    });
    await adminQuery(cluster.url('postgres'), 'CREATE DATABASE app');
    const url = cluster.url('app');
    handle.current = { cluster, url, sql: (text) => adminQuery(url, text) };
  }, 120_000);
  afterAll(() => {
    handle.current?.cluster.destroy();
    if (copy) rmSync(copy, { recursive: true, force: true });
  });
  return handle;
}
