import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { type LocalCluster, startCluster } from '../../src/demo/cluster.js';

/** A throwaway PostgreSQL for one test file: started before its tests, stopped and deleted after, even on failure. */
export interface TestCluster {
  /** null when TEST_DATABASE_URL points at an existing server: then stop/restart/recreate are unavailable. */
  cluster: LocalCluster | null;
  /** URL of the test database (with password). */
  url: string;
  password: string;
  port: number;
  /** Run SQL in the test database as superuser. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Stop the server (the database becomes unreachable). */
  stop(): void;
  start(): void;
  /** Delete the cluster and make a brand-new one on the same port: same URL, new identity. */
  recreate(): Promise<void>;
}

const controllable = !process.env.TEST_DATABASE_URL;

/** Register beforeAll/afterAll hooks for a per-file cluster and return a handle filled once it is up. */
export function useTestCluster(opts: { database?: string } = {}): TestCluster {
  const database = opts.database ?? 'app';
  const handle = {} as TestCluster;
  let cluster: LocalCluster | null = null;
  let dir = '';

  const create = async (port?: number) => {
    cluster = await startCluster({ dir, fast: true, ...(port ? { port } : {}) });
    await adminQuery(cluster.url('postgres'), `CREATE DATABASE ${database}`);
  };

  beforeAll(async () => {
    if (!controllable) {
      // An existing server: a fresh database per file, nothing to stop or recreate.
      const base = new URL(process.env.TEST_DATABASE_URL!);
      const name = `dbwarden_test_${process.pid}_${Date.now().toString(36)}`;
      await adminQuery(base.toString(), `CREATE DATABASE ${name}`);
      base.pathname = `/${name}`;
      Object.assign(handle, {
        cluster: null,
        url: base.toString(),
        password: decodeURIComponent(base.password),
        port: Number(base.port || 5432),
      });
    } else {
      dir = mkdtempSync(join(tmpdir(), 'dbwarden-pg-'));
      await create();
      const c = cluster!;
      Object.assign(handle, { cluster: c, url: c.url(database), password: c.password, port: c.port });
    }
  });

  afterAll(() => {
    cluster?.destroy();
  });

  handle.sql = (text, params) => adminQuery(handle.url, text, params);
  handle.stop = () => requireCluster(cluster).stop('fast');
  handle.start = () => requireCluster(cluster).start();
  handle.recreate = async () => {
    const old = requireCluster(cluster);
    const port = old.port;
    old.destroy();
    await create(port);
    Object.assign(handle, { cluster, url: cluster!.url(database), password: cluster!.password });
  };
  return handle;
}

function requireCluster(c: LocalCluster | null): LocalCluster {
  if (!c) throw new Error('this test needs its own cluster: unset TEST_DATABASE_URL');
  return c;
}

/** One-off query on its own connection. */
export async function adminQuery(url: string, text: string, params?: unknown[]): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

export const canControlCluster = controllable;
