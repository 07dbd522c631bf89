import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer } from '../src/core/http.js';
import type { Report } from '../src/core/report.js';
import { seedDemo } from '../src/demo/seed.js';
import { mountDeployWebhooks } from '../src/deploy/webhook-route.js';
import { signGeneric } from '../src/deploy/webhooks.js';
import { buildServices, type Services } from '../src/main.js';
import { createMetrics } from '../src/serve/metrics.js';
import { type Runtime, startRuntime } from '../src/serve/runtime.js';
import { createFileStore } from '../src/store/file-store.js';
import { captureLogger } from './helpers/backup.js';
import { useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';

const db = useTestCluster();
const hasShellTools = [
  ['bash', '--version'],
  ['openssl', 'version'],
  ['curl', '--version'],
].every(([tool, arg]) => spawnSync(tool!, [arg!], { stdio: 'ignore' }).status === 0);
if (!hasShellTools)
  console.warn('deploy webhooks: the docs example test is left out: bash, openssl or curl missing');
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// Built at run time: no secret-shaped literal lives in the repository.
const SECRET = ['hook', 'secret', Date.now().toString(36), 'abcdef'].join('-');

let services: Services;
let runtime: Runtime;
let base: string;
const posted: Report[] = [];

beforeAll(async () => {
  await seedDemo(db.url);
  const port = await freePort();
  services = await buildServices({
    env: {
      DATABASE_URL: db.url,
      PORT: String(port),
      DBWARDEN_STORE: dir,
      DBWARDEN_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: 'silent',
    },
  });
  runtime = await startRuntime({
    services,
    metrics: createMetrics({ defaults: false }),
    store: createFileStore(dir),
    notifier: { name: 'test', post: async (r) => void posted.push(r) },
    chats: () => [],
    backups: null,
    abortBackups: () => {},
    signals: false,
  });
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await runtime?.shutdown('test over');
  await services?.close();
});

/** A second server on `store` with deploy backups on (the runtime `serve` runs), posting into `reports`. */
async function serveHooks(store: string, reports: Report[]) {
  const port = await freePort();
  const services = await buildServices({
    env: {
      DATABASE_URL: db.url,
      PORT: String(port),
      DBWARDEN_STORE: store,
      DBWARDEN_WEBHOOK_SECRET: SECRET,
      DBWARDEN_BACKUP_ON_DEPLOY: '1',
      LOG_LEVEL: 'silent',
    },
  });
  const runtime = await startRuntime({
    services,
    metrics: createMetrics({ defaults: false }),
    store: services.store,
    notifier: { name: 'test', post: async (r) => void reports.push(r) },
    chats: () => [],
    backups: services.backups,
    abortBackups: () => {},
    signals: false,
  });
  return { port, services, runtime };
}

const post = async (path: string, body: string | Buffer, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
};

let seq = 0;
const railway = (status: string, deployment: string) =>
  JSON.stringify({
    type: `Deployment.${status.toLowerCase()}`,
    details: { id: deployment, status, branch: 'main', commitHash: 'f00dfeed1234', commitMessage: 'Ship it' },
    resource: {
      project: { id: 'p', name: 'shop' },
      environment: { id: 'e', name: 'production' },
      service: { id: 's', name: 'web' },
      deployment: { id: deployment },
    },
    timestamp: new Date(Date.UTC(2026, 10, 24, 10, 0, seq++)).toISOString(),
  });

const reportFor = (deploy: string) =>
  eventually(`a report on ${deploy}`, () =>
    posted.find((r) => r.fields.some((f) => f.value.includes(deploy))),
  );

describe('POST /hooks/deploy', () => {
  it('rejects a wrong path token, a wrong signature and a missing secret with 401, running nothing', async () => {
    expect((await post('/hooks/deploy/not-the-secret', railway('DEPLOYING', 'd-x'))).status).toBe(401);
    expect((await post('/hooks/deploy/%', railway('DEPLOYING', 'd-y'))).status).toBe(401);
    const generic = JSON.stringify({ service: 'web', status: 'succeeded', version: 'v1' });
    const badSig = `sha256=${createHmac('sha256', 'wrong-secret').update(generic).digest('hex')}`;
    expect((await post('/hooks/deploy', generic, { 'x-dbwarden-signature': badSig })).status).toBe(401);
    expect((await post('/hooks/deploy', generic)).status).toBe(401);
    expect((await post('/hooks/deploy', generic, { authorization: 'Bearer nope' })).status).toBe(401);
    expect(posted).toEqual([]);
  });

  it('answers 400 with a reason to a malformed body', async () => {
    const notJson = await post(`/hooks/deploy/${SECRET}`, '{"type": ');
    expect(notJson).toEqual({ status: 400, body: { error: 'body is not JSON' } });
    const wrongShape = await post(`/hooks/deploy/${SECRET}`, JSON.stringify({ service: 'web' }));
    expect(wrongShape.status).toBe(400);
    expect(wrongShape.body.error).toContain('status');
  });

  it('answers 413 to a body over 1 MB', async () => {
    const big = JSON.stringify({ service: 'web', status: 'started', version: 'x'.repeat(1024 * 1024) });
    const r = await fetch(`${base}/hooks/deploy/${SECRET}`, { method: 'POST', body: big }).catch((e) => e);
    // Either the 413 arrives, or the server closed the connection while the client still sent.
    if (r instanceof Response) expect(r.status).toBe(413);
    else expect(String(r.cause ?? r)).toMatch(/EPIPE|ECONNRESET|other side closed|SocketError/);
    const declared = await fetch(`${base}/hooks/deploy/${SECRET}`, {
      method: 'POST',
      headers: { 'content-length': String(2 * 1024 * 1024) },
      body: 'x'.repeat(10),
    }).catch((e) => e);
    if (declared instanceof Response) expect(declared.status).toBe(413);
    expect(posted).toEqual([]);
  });

  it('accepts a Railway deploy at once, ignores a replayed delivery, and reports a clean deploy', async () => {
    const start = railway('DEPLOYING', 'd-clean');
    expect(await post(`/hooks/deploy/${SECRET}`, start)).toEqual({
      status: 202,
      body: { accepted: 'railway:d-clean', phase: 'started' },
    });
    expect(await post(`/hooks/deploy/${SECRET}`, start)).toEqual({
      status: 200,
      body: { ignored: 'replayed delivery' },
    });
    await runtime.settled();
    await db.sql(`INSERT INTO auth_user (username, email, password) VALUES ('new1', 'n@example.com', 'x')`);
    expect((await post(`/hooks/deploy/${SECRET}`, railway('SUCCESS', 'd-clean'))).status).toBe(202);
    const report = await reportFor('web @ f00dfeed1234');
    expect(report.level).toBe('ok');
    expect(report.title).toBe('Deploy web @ f00dfeed1234 succeeded');
    expect(report.sections).toContainEqual({
      title: 'Watched rows changed',
      lines: ['public.auth_user: 40 → 41'],
    });
    expect(report.fields).toContainEqual({ label: 'Migrations', value: 'none applied' });
    posted.length = 0;
  });

  it('posts a 🚨 deploy report when a deploy empties a table', async () => {
    const secretSig = (b: string) => `sha256=${createHmac('sha256', SECRET).update(b).digest('hex')}`;
    const github = (state: string, id: number) =>
      JSON.stringify({
        deployment_status: { id, state },
        deployment: {
          id: 77,
          sha: 'c0ffee0000000000000000000000000000000001',
          ref: 'main',
          environment: 'production',
        },
        repository: { name: 'shop' },
      });
    const headers = (b: string, delivery: string) => ({
      'x-github-event': 'deployment_status',
      'x-github-delivery': delivery,
      'x-hub-signature-256': secretSig(b),
    });
    const started = github('in_progress', 1);
    expect((await post('/hooks/deploy', started, headers(started, 'gh-1'))).status).toBe(202);
    // Once the start reading is taken, the "migration" empties a table and adds one.
    await runtime.settled();
    await db.sql(`TRUNCATE billing_transaction; CREATE TABLE billing_invoice (id int)`);
    await db.sql(
      `INSERT INTO django_migrations (app, name, applied) VALUES ('billing', '0004_invoice', now())`,
    );
    const done = github('success', 2);
    expect((await post('/hooks/deploy', done, headers(done, 'gh-2'))).status).toBe(202);
    const report = await reportFor('shop @ c0ffee0');
    expect(report.level).toBe('critical');
    expect(report.title).toBe('🚨 Deploy shop @ c0ffee0: rows vanished');
    expect(report.sections[0]!.title).toBe('🚨 Rows vanished');
    expect(report.sections[0]!.lines).toContain('• public.billing_transaction: 20,000 → 0 (−100 %)');
    expect(report.sections[0]!.tail?.some((l) => l.includes('dbwarden restore') || l.startsWith('→'))).toBe(
      true,
    );
    expect(report.sections).toContainEqual({
      title: 'Tables added / removed',
      lines: ['+ public.billing_invoice'],
    });
    expect(report.fields).toContainEqual({
      label: 'Migrations',
      value: '1 applied since, newest billing.0004_invoice',
    });
    expect(JSON.stringify(report)).not.toContain(db.password);
  });

  it('takes the generic shape with a bearer token and reports a failed deploy', async () => {
    const body = JSON.stringify({
      service: 'worker',
      environment: 'staging',
      version: 'v9',
      status: 'failed',
      id: 'g-1',
    });
    const r = await post('/hooks/deploy', body, { authorization: `Bearer ${SECRET}` });
    expect(r).toEqual({ status: 202, body: { accepted: 'generic:worker:v9', phase: 'failed' } });
    const report = await reportFor('worker @ v9');
    // No start event: compared with the guard's baseline (the first sight), where the rows were still there.
    expect(report.title).toBe('🚨 Deploy worker @ v9 failed: rows vanished');
    expect(report.level).toBe('critical');
    await db.sql(
      'INSERT INTO billing_transaction (meter_id, amount_cents) SELECT 1 + i % 600, 1 FROM generate_series(1, 20000) i',
    );
    const again = JSON.stringify({ service: 'worker', version: 'v10', status: 'failed', id: 'g-2' });
    expect((await post('/hooks/deploy', again, { authorization: `Bearer ${SECRET}` })).status).toBe(202);
    const calm = await reportFor('worker @ v10');
    expect(calm.title).toBe('Deploy worker @ v10 failed');
    expect(calm.level).toBe('warn');
    expect(calm.sections.map((x) => x.title)).not.toContain('🚨 Rows vanished');
    expect(report.fields).toContainEqual({ label: 'Environment', value: 'staging' });
  });

  it('takes a verified backup when a deploy starts, with DBWARDEN_BACKUP_ON_DEPLOY=1', async () => {
    const {
      port,
      services: s2,
      runtime: r2,
    } = await serveHooks(mkdtempSync(join(dir, 'on-deploy-')), posted);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/hooks/deploy/${SECRET}`, {
        method: 'POST',
        body: railway('DEPLOYING', 'd-backup'),
      });
      expect(res.status).toBe(202);
      await r2.settled();
      const [m] = await s2.backups.list();
      expect(m).toMatchObject({ status: 'complete', verified: true, requestedBy: 'deploy' });
    } finally {
      await r2.shutdown('test over');
      await s2.close();
    }
  });

  it('refuses replays of signed bodies under a new delivery header, across a restart: no second check or backup', async () => {
    const store = mkdtempSync(join(dir, 'replays-'));
    const reports: Report[] = [];
    const start = async () => {
      const { port, services: s, runtime: r } = await serveHooks(store, reports);
      const send = async (body: string, headers: Record<string, string>) => {
        const res = await fetch(`http://127.0.0.1:${port}/hooks/deploy`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
        });
        return { status: res.status, body: (await res.json()) as Record<string, string> };
      };
      return { services: s, runtime: r, send };
    };
    const generic = JSON.stringify({ service: 'api', version: 'v7', status: 'started' });
    const ts = String(Math.floor(Date.now() / 1000));
    const signed = (delivery: string) => ({
      'x-dbwarden-timestamp': ts,
      'x-dbwarden-signature': signGeneric(SECRET, ts, generic),
      'x-delivery-id': delivery,
    });
    const github = JSON.stringify({
      deployment_status: { id: 501, state: 'in_progress', created_at: new Date().toISOString() },
      deployment: { id: 88, sha: 'feedface00000000000000000000000000000000', ref: 'main' },
      repository: { name: 'shop' },
    });
    const githubHeaders = (delivery: string) => ({
      'x-github-event': 'deployment_status',
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(github).digest('hex')}`,
    });
    const replayed = { status: 200, body: { ignored: 'replayed delivery' } };

    const one = await start();
    try {
      expect(await one.send(generic, signed('d-1'))).toEqual({
        status: 202,
        body: { accepted: 'generic:api:v7', phase: 'started' },
      });
      await one.runtime.settled();
      expect(await one.send(generic, signed('d-2'))).toEqual(replayed);
      expect((await one.send(github, githubHeaders('gh-a'))).status).toBe(202);
      await one.runtime.settled();
      expect(await one.send(github, githubHeaders('gh-b'))).toEqual(replayed);
      // A timestamp outside the 5-minute window is refused even with a good signature.
      const old = String(Number(ts) - 6 * 60);
      const stale = await one.send(generic, {
        'x-dbwarden-timestamp': old,
        'x-dbwarden-signature': signGeneric(SECRET, old, generic),
      });
      expect(stale.status).toBe(401);
      expect(stale.body.error).toContain('more than 5 minutes from now');
    } finally {
      await one.runtime.shutdown('restart');
      await one.services.close();
    }
    const before = reports.length;

    // A new process on the same store remembers what the first one acted on.
    const two = await start();
    try {
      expect(await two.send(generic, signed('d-3'))).toEqual(replayed);
      expect(await two.send(github, githubHeaders('gh-c'))).toEqual(replayed);
      await two.runtime.settled();
      const backups = await two.services.backups.list();
      expect(backups.map((m) => m.requestedBy)).toEqual(['deploy', 'deploy']);
      expect(reports.length).toBe(before);
    } finally {
      await two.runtime.shutdown('test over');
      await two.services.close();
    }
  });

  it.runIf(hasShellTools)(
    'accepts the signed curl + openssl example of docs/deploy.md as written',
    async () => {
      const docs = readFileSync('docs/deploy.md', 'utf8');
      const marker = docs.indexOf('<!-- tested by test/deploy-webhook-route.test.ts');
      const script = /```sh\n([\s\S]*?)```/.exec(docs.slice(marker))?.[1];
      expect(marker).toBeGreaterThan(0);
      const sha = 'abc1234def5678abc1234def5678abc1234def56';
      // Not spawnSync: the server that answers curl runs in this very process.
      const child = spawn('bash', ['--norc', '--noprofile', '-euc', script!], {
        env: { PATH: process.env.PATH, DBWARDEN_URL: base, DBWARDEN_WEBHOOK_SECRET: SECRET, GIT_SHA: sha },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise((resolve) => child.on('close', resolve));
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(out)).toEqual({ accepted: `generic:web:${sha}`, phase: 'started' });
      await runtime.settled();
    },
  );

  it('logs a client that hangs up mid-body as a warning without a stack, never an error', async () => {
    const log = captureLogger();
    const http = createHttpServer({ logger: log.logger });
    mountDeployWebhooks(http, {
      secret: SECRET,
      logger: log.logger,
      store: null,
      clock: () => new Date(),
      onEvent: async () => {},
    });
    const port = await http.listen(0, '127.0.0.1');
    try {
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((r) => socket.once('connect', () => r()));
      socket.write(
        `POST /hooks/deploy/${SECRET} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"service":`,
      );
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      await eventually('the hang-up logged', () =>
        log.text().includes('client closed the request early') ? true : undefined,
      );
      const line = JSON.parse(
        log
          .text()
          .split('\n')
          .find((l) => l.includes('closed the request early'))!,
      );
      expect(line).toMatchObject({ level: 'warn', path: '/hooks/deploy/', reason: 'aborted' });
      expect(log.text()).not.toContain('"level":"error"');
      expect(log.text()).not.toContain('"stack"');
    } finally {
      await http.close();
    }
  });
});
