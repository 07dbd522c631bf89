import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';
import { type SpawnedCli, spawnCli, untilHealthy } from './helpers/spawn-cli.js';

const db = useTestCluster();
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-shutdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Served = SpawnedCli & {
  port: number;
  /** This process's own store. */
  store: string;
};

/** The real entry point, as a process manager starts it: no terminal, PORT set. */
async function serve(extraEnv: Record<string, string> = {}, args: string[] = []): Promise<Served> {
  const port = await freePort();
  const store = mkdtempSync(join(dir, 'store-'));
  const p = spawnCli(
    ['serve', ...args],
    { DATABASE_URL: db.url, PORT: String(port), DBWARDEN_STORE: store, LOG_LEVEL: 'info', ...extraEnv },
    { stdin: args.includes('--console') },
  );
  await untilHealthy(p, port);
  return { ...p, port, store };
}

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops on ${signal}: closes the HTTP server and exits 0`, async () => {
      const s = await serve();
      try {
        expect((await fetch(`http://127.0.0.1:${s.port}/readyz`)).status).toBe(200);
        s.child.kill(signal);
        expect(await s.exited).toEqual({ code: 0, signal: null });
        expect(s.log()).toContain('"msg":"shutdown requested"');
        expect(s.log()).toContain('"msg":"dbwarden stopped"');
        expect(s.log()).not.toContain(db.password);
        await expect(fetch(`http://127.0.0.1:${s.port}/healthz`)).rejects.toThrow();
      } finally {
        s.kill();
      }
    });
  }

  /**
   * A backup that cannot finish: a transaction holds an exclusive lock on a table pg_dump must read, so the dump
   * waits. Resolves once pg_dump is seen waiting; `release` ends the transaction.
   * pg_dump itself is recognised by the table lock it takes before reading anything: serve's own status probe (its
   * first sight of the database at start-up) counts the same table as application "dbwarden" and can be the one
   * waiting while the console has not yet started the backup.
   */
  async function blockedBackup(s: Served): Promise<{ release: () => Promise<void> }> {
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => {});
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE billing_transaction IN ACCESS EXCLUSIVE MODE');
    s.child.stdin!.write('/backup-now\n');
    const release = async () => {
      await client.query('ROLLBACK').catch(() => {});
      await client.end().catch(() => {});
    };
    try {
      await eventually('pg_dump waiting on the lock', async () => {
        const r = await db.sql(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND application_name = 'dbwarden' AND query LIKE 'LOCK TABLE %'`,
        );
        return r.rows[0].n > 0 ? true : undefined;
      });
    } catch (err) {
      await release();
      throw new Error(`${(err as Error).message}\n${s.log()}`);
    }
    return { release };
  }

  const manifests = (store: string) =>
    readdirSync(join(store, 'backups'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(store, 'backups', f), 'utf8')));
  const goodManifests = (store: string) => manifests(store).filter((m) => m.status === 'complete');
  const dumpFiles = (store: string) => {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(d, e.name));
        else if (!e.name.endsWith('.json')) out.push(e.name);
    };
    walk(join(store, 'backups'));
    return out;
  };

  it('aborts a backup still running after DBWARDEN_SHUTDOWN_GRACE: no manifest, no partial file, a post, exit 0', async () => {
    await seedDemo(db.url);
    // Short database timeouts: the status probes the lock also blocks give their connections back sooner.
    const s = await serve(
      { DBWARDEN_SHUTDOWN_GRACE: '1s', DBWARDEN_STATEMENT_TIMEOUT: '2s', DBWARDEN_CONNECT_TIMEOUT: '2s' },
      ['--console'],
    );
    const lock = await blockedBackup(s);
    try {
      s.child.kill('SIGTERM');
      expect(await s.exited).toEqual({ code: 0, signal: null });
    } finally {
      await lock.release();
      s.kill();
    }
    expect(s.log()).toContain('"msg":"backup still running after the grace period: aborting it"');
    expect(s.log()).toMatch(/Backup of \S+ interrupted by shutdown/);
    expect(s.log()).toContain('It did not finish within DBWARDEN_SHUTDOWN_GRACE (1 s) and was stopped');
    // An interrupted backup is not a failed one: nothing for the guard to raise backup-failed about.
    expect(manifests(s.store)).toEqual([]);
    expect(dumpFiles(s.store)).toEqual([]);
    expect(s.log()).not.toContain(db.password);
  }, 120_000);

  it('lets a running backup finish within the grace period, then exits 0', async () => {
    const s = await serve({ DBWARDEN_SHUTDOWN_GRACE: '60s' }, ['--console']);
    const lock = await blockedBackup(s);
    try {
      s.child.kill('SIGTERM');
      await eventually('shutdown to wait for the backup', () =>
        s.log().includes('"msg":"waiting for the running backup"') ? true : undefined,
      );
      // Refused while stopping: no new work starts.
      const refused = await fetch(`http://127.0.0.1:${s.port}/readyz`);
      expect(refused.status).toBe(503);
      await lock.release();
      expect(await s.exited).toEqual({ code: 0, signal: null });
    } finally {
      await lock.release();
      s.kill();
    }
    expect(s.log()).not.toMatch(/interrupted by shutdown/);
    const good = goodManifests(s.store);
    expect(good).toHaveLength(1);
    expect(good[0]).toMatchObject({ status: 'complete', verified: true });
  }, 120_000);
});
