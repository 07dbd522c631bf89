import { join } from 'node:path';
import { type LocalCluster, startCluster } from './cluster.js';
import { seedDemo } from './seed.js';

/** Start (or reuse) the local demo database under the store directory and seed it once. */
export async function startDemoDatabase(storeDir: string): Promise<{ url: string; cluster: LocalCluster }> {
  const cluster = await startCluster({ dir: join(storeDir, 'demo') });
  const url = cluster.url('postgres').replace(/\/postgres$/, '/demo_app');
  const admin = await import('pg');
  const client = new admin.default.Client({ connectionString: cluster.url('postgres') });
  await client.connect();
  try {
    const r = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'demo_app'`);
    if (r.rowCount === 0) await client.query('CREATE DATABASE demo_app');
  } finally {
    await client.end();
  }
  await seedDemo(url);
  return { url, cluster };
}
