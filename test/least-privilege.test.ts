import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeStatus } from '../src/core/status.js';
import { createTarget } from '../src/core/target.js';
import { findServerBin } from '../src/demo/cluster.js';
import { seedDemo } from '../src/demo/seed.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();

/** The role SQL exactly as docs/deploy.md gives it, with the placeholder password filled in. */
function roleSql(password: string): string {
  const doc = readFileSync('docs/deploy.md', 'utf8');
  const block = /<!-- role-sql:start -->\s*```sql\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/deploy.md lost its role SQL block');
  return block.replaceAll('CHANGE-ME', password).replaceAll('your_app_db', 'app');
}

describe('the least-privilege role from the deploy guide', () => {
  it('can read status (identity included) and pg_dump the database, but cannot write to it', async () => {
    await seedDemo(db.url);
    await db.sql(roleSql('warden-pw-7Hq2'));
    const url = db.url.replace(/\/\/postgres:[^@]+@/, '//dbwarden:warden-pw-7Hq2@');
    const target = createTarget(url, {
      environment: 'production',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    const s = await probeStatus({ target, watchTables: null });
    await target.close();
    expect(s.reachable).toBe(true);
    expect(s.identity?.systemIdentifier).toMatch(/^\d+$/);
    expect(s.tables.find((t) => t.name === 'billing_transaction')).toMatchObject({
      rows: 20000,
      exact: true,
    });
    expect(s.migrations?.framework).toBe('django');

    const bin = join(findServerBin(), 'pg_dump');
    const dump = spawnSync(bin, ['-Fc', '--no-sync', '-f', '/dev/null'], {
      env: {
        PGHOST: '127.0.0.1',
        PGPORT: String(db.port),
        PGUSER: 'dbwarden',
        PGPASSWORD: 'warden-pw-7Hq2',
        PGDATABASE: 'app',
      },
      encoding: 'utf8',
    });
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);

    await expect(adminQuery(url, 'DELETE FROM auth_user')).rejects.toThrow(/permission denied/);
    await expect(adminQuery(url, 'CREATE TABLE x (id int)')).rejects.toThrow(/permission denied/);
  });
});
