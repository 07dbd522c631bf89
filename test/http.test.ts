import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import type { Services } from '../src/main.js';
import { checkReadiness } from '../src/serve/readiness.js';
import { createFileStore } from '../src/store/file-store.js';
import { canControlCluster, useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';
import { type ServedBot, serveInProcess } from './helpers/serve.js';

const db = useTestCluster();
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-http-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let served: ServedBot;
let services: Services;
let base: string;
const guardPosts = new PassThrough();
let guardText = '';
guardPosts.on('data', (d) => (guardText += d));
// The console chat of `serve --console`: commands typed here are timed and gated like Slack's and Discord's.
const chatIn = new PassThrough();
const chatOut = new PassThrough();
let chatText = '';
chatOut.on('data', (d) => (chatText += d));

/** Type a command into the console chat and wait for its answer to contain `expected`. */
async function ask(line: string, expected: string): Promise<void> {
  const from = chatText.length;
  chatIn.write(`${line}\n`);
  await eventually(`an answer to ${line}`, () =>
    chatText.slice(from).includes(expected) ? true : undefined,
  );
}

beforeAll(async () => {
  await seedDemo(db.url);
  const port = await freePort();
  served = await serveInProcess(
    { DATABASE_URL: db.url, PORT: String(port), DBWARDEN_STORE: dir, LOG_LEVEL: 'silent' },
    // The guard's own posts (console, no chat configured) are read from here.
    { consoleOutput: guardPosts, chat: { input: chatIn, output: chatOut }, metricsRefreshMs: 0 },
  );
  services = served.services;
  base = `http://127.0.0.1:${port}`;
  // The first sight is remembered in the background: let it finish before a test stops the server.
  await served.runtime.settled();
});
afterAll(async () => {
  await served?.stop('test over');
});

const get = async (path: string) => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

describe('HTTP: health, readiness, metrics', () => {
  it('answers /healthz while the process lives', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ ok: true });
  });

  it('is ready when the database answers, the store takes writes and the chat is connected', async () => {
    const r = await get('/readyz');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text);
    expect(body).toMatchObject({
      ready: true,
      failing: [],
      checks: {
        database: { ok: true, detail: `reachable: postgres://postgres@127.0.0.1:${db.port}/app` },
        store: { ok: true, detail: `writable: ${dir}` },
        chat: { ok: true, detail: 'no chat configured: reports go to the log' },
      },
    });
    expect(r.text).not.toContain(db.password);
  });

  it('names a disconnected chat', async () => {
    let slackUp = true;
    const chats = () => [{ name: 'slack', connected: () => slackUp }];
    const ready = await checkReadiness({
      target: services.target,
      store: services.store,
      chats,
      timeoutMs: 5000,
    });
    expect(ready.checks.chat).toEqual({ ok: true, detail: 'connected: slack' });
    slackUp = false;
    const r = await checkReadiness({
      target: services.target,
      store: services.store,
      chats,
      timeoutMs: 5000,
    });
    expect(r.ready).toBe(false);
    expect(r.failing).toEqual(['chat']);
    expect(r.checks.chat).toEqual({ ok: false, detail: 'not connected: slack' });
  });

  it('names a store it cannot write to', async () => {
    const notADir = join(dir, 'a-file');
    writeFileSync(notADir, 'x');
    const r = await checkReadiness({
      target: services.target,
      store: createFileStore(notADir),
      chats: () => [],
      timeoutMs: 5000,
    });
    expect(r.ready).toBe(false);
    expect(r.failing).toEqual(['store']);
    expect(r.checks.store.detail).toMatch(/ENOTDIR|EEXIST/);
  });

  it('serves Prometheus metrics: backups, database size, watched rows, warnings, latency', async () => {
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/plain');
    expect(r.text).toContain('dbwarden_backups_total{result="success"} 0');
    expect(r.text).toContain('dbwarden_database_reachable 1');
    expect(r.text).toMatch(/dbwarden_database_size_bytes \d{6,}/);
    expect(r.text).toContain('dbwarden_watched_table_rows{table="public.auth_user"} 40');
    expect(r.text).toContain('dbwarden_watched_table_rows{table="public.billing_transaction"} 20000');
    expect(r.text).toContain('# TYPE dbwarden_open_warnings gauge');
    expect(r.text).toContain('# TYPE dbwarden_command_duration_seconds histogram');
    expect(r.text).toContain('dbwarden_process_nodejs_eventloop_lag_seconds');
  });

  it('answers 404 in JSON for anything else', async () => {
    const r = await get('/nope');
    expect(r.status).toBe(404);
  });

  it.runIf(canControlCluster)('is not ready, naming the database, while the server is stopped', async () => {
    db.stop();
    try {
      const r = await get('/readyz');
      expect(r.status).toBe(503);
      const body = JSON.parse(r.text);
      expect(body.ready).toBe(false);
      expect(body.failing).toEqual(['database']);
      expect(body.checks.database.ok).toBe(false);
      expect(body.checks.database.detail).toContain(`Connection refused by 127.0.0.1:${db.port}`);
      expect(body.checks.store.ok).toBe(true);
      const m = await get('/metrics');
      expect(m.status).toBe(200);
      expect(m.text).toContain('dbwarden_database_reachable 0');
    } finally {
      db.start();
    }
    expect((await get('/readyz')).status).toBe(200);
  });

  it('remembers the database it first saw, in the store', async () => {
    const { baselineSnapshot } = await import('../src/guard/watch-state.js');
    const b = await baselineSnapshot(createFileStore(dir));
    expect(b?.identity.databaseName).toBe('app');
    expect(b?.tables['public.auth_user']).toEqual({ rows: 40, exact: true, sizeBytes: expect.any(Number) });
  });

  it("counts backups, the last one's size and duration, commands by platform, and the guard's open warnings", async () => {
    const m = await services.backups.run({ requestedBy: 'test' });
    await ask('/db-status', 'Database');
    await services.watch();
    await db.sql('DELETE FROM auth_user WHERE id > 5');
    await services.watch();
    expect(guardText).toContain('Rows vanished');
    const r = await get('/metrics');
    expect(r.text).toContain('dbwarden_backups_total{result="success"} 1');
    expect(r.text).toContain(`dbwarden_backup_last_size_bytes ${m.sizeBytes}`);
    expect(r.text).toContain(
      `dbwarden_backup_last_success_timestamp_seconds ${Date.parse(m.finishedAt) / 1000}`,
    );
    expect(r.text).toContain(`dbwarden_backup_last_duration_seconds ${m.durationMs / 1000}`);
    expect(r.text).toContain(
      'dbwarden_command_duration_seconds_count{platform="console",command="db-status"} 1',
    );
    expect(r.text).toContain('dbwarden_open_warnings{code="rows-dropped"} 1');
    expect(r.text).toContain('dbwarden_watched_table_rows{table="public.auth_user"} 5');
  });

  it('stops taking commands once shutdown begins, then closes', async () => {
    const done = served.runtime.shutdown('test');
    await ask('/db-status', 'dbwarden is restarting');
    await done;
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    expect(guardText).not.toContain('interrupted');
  });
});
