import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { useTestCluster } from './helpers/cluster.js';
import { cliProcess } from './helpers/spawn-cli.js';

const db = useTestCluster();
const store = mkdtempSync(join(tmpdir(), 'dbwarden-demo-'));
chmodSync(store, 0o755); // the demo server may run as another user, who must reach its data
afterAll(() => rmSync(store, { recursive: true, force: true }));

/** Run the real entry point with no DATABASE_URL, type into its console chat, return what it printed. */
function runDemo(input: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const cli = cliProcess(['serve', '--console'], { DBWARDEN_STORE: store, LOG_LEVEL: 'warn' });
    const child = spawn(cli.command, cli.args, { cwd: cli.cwd, env: cli.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(input);
  });
}

describe('demo mode (no configuration)', () => {
  it('starts a seeded local database and answers /db-status in the console chat', async () => {
    const r = await runDemo('/db-status\n/quit\n');
    expect(r.err).toContain('DEMO MODE');
    expect(r.err).toContain('set DATABASE_URL');
    expect(r.out).toContain('demo · demo_app');
    expect(r.out).toMatch(/Migrations: +django: 6 applied/);
    expect(r.out).toContain('billing_transaction: 20,000 rows');
    expect(r.code).toBe(0);
  });

  it('reuses the demo data on the next start', async () => {
    const r = await runDemo('/db-status\n/quit\n');
    expect(r.out).toContain('billing_customer: 250 rows');
    expect(r.code).toBe(0);
  });

  it("keeps the demo's backups in the demo's own store: a real database never shows them as its own", async () => {
    const demo = await runDemo('/backup-now\n/quit\n');
    expect(demo.out).toContain('Backup of demo_app complete');
    // The report names the store without the host's path; the dump itself is in the demo's own store.
    expect(demo.out).toContain('stored in the file store demo-store');
    const id = /Backup: +(\S+)/.exec(demo.out)?.[1];
    expect(id).toBeDefined();
    const demoStore = readdirSync(join(store, 'demo', 'demo-store'), { recursive: true }).map(String);
    expect(demoStore.some((f) => f.includes(id!))).toBe(true);
    // Now the team points dbwarden at its real database, with the same (default) store.
    await seedDemo(db.url);
    const env = { DATABASE_URL: db.url, DBWARDEN_STORE: store, LOG_LEVEL: 'silent' };
    const status = await runCliCaptured(['status', '--json'], env);
    const json = JSON.parse(status.out);
    expect(json.lastBackup).toBeNull();
    expect(json.warnings.map((w: { code: string }) => w.code)).toContain('no-backup');
    const listed = await runCliCaptured(['backups', '--json'], env);
    expect(JSON.parse(listed.out)).toEqual([]);
  });
});
