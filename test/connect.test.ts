import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestCluster } from './helpers/cluster.js';
import { spawnCli } from './helpers/spawn-cli.js';

const db = useTestCluster();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('reaching the database', () => {
  // The test cluster asks TCP clients for a SCRAM password (pg_hba scram-sha-256), as managed servers do.
  it('a DATABASE_URL without a password against a SCRAM server: status says so and exits within seconds (issue 13)', async () => {
    await db.sql(
      `DO $$ BEGIN CREATE ROLE nopw_app LOGIN PASSWORD 'role-pw-1f3a9'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    );
    const url = new URL(db.url);
    url.username = 'nopw_app';
    url.password = '';
    const store = mkdtempSync(join(tmpdir(), 'dbwarden-connect-'));
    dirs.push(store);
    const started = Date.now();
    // The real entry point: before the fix its socket outlived the answer by the server's 60 s auth timeout.
    const p = spawnCli(['status', '--json'], {
      DATABASE_URL: url.toString(),
      DBWARDEN_CONNECT_TIMEOUT: '3s',
      DBWARDEN_STORE: store,
    });
    try {
      const { code } = await p.exited;
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(code).toBe(2);
      const s = JSON.parse(p.log().slice(p.log().indexOf('{\n')));
      expect(s.error).toMatchObject({
        code: 'unreachable-auth',
        message: expect.stringMatching(/asks for a password and DATABASE_URL has none for user "nopw_app"/),
      });
    } finally {
      p.kill();
    }
  }, 90_000);
});
