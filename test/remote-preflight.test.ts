import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/cli.js';
import { useTestCluster } from './helpers/cluster.js';
import { freePort } from './helpers/net.js';
import { type ServedBot, serveInProcess } from './helpers/serve.js';

const db = useTestCluster();
const TOKEN = `remote-preflight-test-${'k'.repeat(24)}`;
const SAFE = 'test/fixtures/migrations/django_0004_add_field.sql';
const DESTRUCTIVE = 'test/fixtures/migrations/prisma_migration.sql';
const PYTHON = process.env.DBWARDEN_TEST_PYTHON ?? '/usr/bin/python3';
const hasDjango = spawnSync(PYTHON, ['-c', 'import django, psycopg2'], { stdio: 'ignore' }).status === 0;
const hasCurl = ['curl', 'bash'].every(
  (tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0,
);
if (!hasDjango)
  console.warn(`remote preflight: Django client test left out: ${PYTHON} lacks django/psycopg2`);
if (!hasCurl) console.warn('remote preflight: the docs curl example test is left out: curl or bash missing');

const work = mkdtempSync(join(tmpdir(), 'dbwarden-remote-preflight-'));
let bot: ServedBot;
let base: string;
let store: string;
let appUrl: string;
let posts = '';

/** The backups in the service's store (manifests). */
const backups = () => {
  try {
    return readdirSync(join(store, 'backups')).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
};

/** POST /preflight with a JSON body (or raw bytes), as any HTTP client would. */
async function post(body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  const res = await fetch(`${base}/preflight`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const raw = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(raw);
  } catch {}
  return { status: res.status, raw, json };
}

const migration = (path: string) => ({ name: path.split('/').pop()!, sql: readFileSync(path, 'utf8') });

beforeAll(async () => {
  // A database of its own: the Django project's tables are made by its migrations.
  await db.sql('CREATE DATABASE djangoapp');
  appUrl = db.url.replace(/\/app$/, '/djangoapp');
  const port = await freePort();
  store = join(work, 'store');
  const consoleOutput = new PassThrough();
  consoleOutput.on('data', (d) => (posts += d));
  bot = await serveInProcess(
    { DATABASE_URL: appUrl, PORT: String(port), DBWARDEN_API_TOKEN: TOKEN, DBWARDEN_STORE: store },
    { consoleOutput },
  );
  await bot.runtime.settled();
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await bot?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('remote preflight: POST /preflight on a real serve', () => {
  it('refuses a missing or wrong token (401), a huge body (413) and malformed input (400); nothing runs', async () => {
    const before = backups().length;
    const body = { migrations: [migration(DESTRUCTIVE)], strict: true };
    const none = await post(body, {});
    expect(none.status).toBe(401);
    expect(none.json?.error).toContain('bearer token');
    const wrong = await post(body, { authorization: `Bearer ${TOKEN.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect((await post(body, { authorization: TOKEN })).status).toBe(401);

    const notJson = await post('{"migrations": [');
    expect(notJson.status).toBe(400);
    expect(notJson.json?.error).toMatch(/^the body is not JSON/);
    const badShape = await post({ migrations: [{ name: 'x.sql' }] });
    expect(badShape.status).toBe(400);
    expect(badShape.json?.error).toContain('migrations.0.sql');
    const typo = await post({ migrations: [], strickt: true });
    expect(typo.status).toBe(400);
    expect(typo.json?.error).toContain('strickt');

    // Declared too large: refused before reading; streamed without a length: refused once past the limit.
    const declared = await post('x'.repeat(5 * 1024 * 1024 + 1));
    expect(declared.status).toBe(413);
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/preflight`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      let sent = 0;
      const more = () => {
        while (sent < 8 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return req.once('drain', more);
        }
        req.end();
      };
      more();
    });
    expect(streamed).toBe(413);

    expect(backups().length).toBe(before);
    expect(posts).toBe('');
    expect(bot.logs()).not.toContain(TOKEN);
  });

  it('runs the local preflight: same verdict as `preflight --json`, a verified backup, the post, exit code 3', async () => {
    const started = Date.now();
    let firstByteMs = 0;
    const raw = await new Promise<string>((resolve, reject) => {
      const req = request(`${base}/preflight`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.once('data', () => (firstByteMs = Date.now() - started));
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(text))));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ migrations: [migration(DESTRUCTIVE), migration(SAFE)], strict: true }));
    });
    const total = Date.now() - started;
    // Headers and a first newline at once; the verdict after the backup (keep-alive protocol).
    expect(raw.startsWith('\n')).toBe(true);
    expect(firstByteMs).toBeLessThan(total);
    const remote = JSON.parse(raw);
    expect(remote).toMatchObject({
      verdict: 'block',
      exitCode: 3,
      destructive: true,
      pending: ['prisma_migration.sql', 'django_0004_add_field.sql'],
      backup: { verified: true },
      posted: true,
    });
    const id = remote.backup.id as string;
    expect(JSON.parse(readFileSync(join(store, 'backups', `${id}.json`), 'utf8'))).toMatchObject({
      status: 'complete',
      verified: true,
      requestedBy: 'preflight',
    });
    expect(remote.text).toContain('Deploy preflight: the deploy is stopped (--strict)');
    expect(remote.text).toContain(`dbwarden restore ${id} --to <database-url>`);
    expect(remote.text).toContain('Set DBWARDEN_ALLOW_DESTRUCTIVE=1 for this one deploy');
    expect(posts).toContain('🚨 Deploy preflight: the deploy is stopped (--strict)');
    expect(posts).toContain(id);

    // The same SQL through the local CLI, against the same database and store: the same verdict, field by field.
    const local = await runCliCaptured(['preflight', '--sql', DESTRUCTIVE, SAFE, '--strict', '--json'], {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: appUrl,
      DBWARDEN_STORE: store,
    });
    const localJson = JSON.parse(local.out);
    const { text: _text, ...remoteJson } = remote;
    expect(Object.keys(remoteJson).sort()).toEqual(Object.keys(localJson).sort());
    expect(local.code).toBe(remote.exitCode);
    for (const key of ['verdict', 'exitCode', 'destructive', 'blocking', 'problems'])
      expect(remoteJson[key], key).toEqual(localJson[key]);
    const strip = (fs: { source: string }[]) => fs.map(({ source: _s, ...f }) => f);
    expect(strip(remoteJson.findings)).toEqual(strip(localJson.findings));

    // This deploy's DBWARDEN_ALLOW_DESTRUCTIVE=1 is honoured; without --strict the exit code is 0 anyway.
    const allowed = await post({
      migrations: [migration(DESTRUCTIVE)],
      strict: true,
      allowDestructive: true,
    });
    expect(allowed.json).toMatchObject({ verdict: 'warn', exitCode: 0, blocking: [] });
    const lax = await post({ migrations: [migration(DESTRUCTIVE)] });
    expect(lax.json).toMatchObject({ verdict: 'block', exitCode: 0 });
  });

  it('runs one preflight at a time: two deploys at once both get their backup', async () => {
    const body = { migrations: [migration(DESTRUCTIVE)], strict: true };
    const [a, b] = await Promise.all([post(body), post(body)]);
    for (const r of [a, b]) {
      expect(r.status).toBe(200);
      expect(r.json?.problems).toEqual([]);
      expect((r.json?.backup as { verified: boolean } | null)?.verified).toBe(true);
    }
  });

  it('`dbwarden preflight --remote URL`: the local output and exit codes, the token from DBWARDEN_API_TOKEN', async () => {
    const env = { PATH: process.env.PATH ?? '', DBWARDEN_API_TOKEN: TOKEN };
    const r = await runCliCaptured(
      ['preflight', '--remote', base, '--sql', DESTRUCTIVE, '--strict', '--json'],
      env,
    );
    expect(r.code).toBe(3);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ verdict: 'block', exitCode: 3, backup: { verified: true } });
    expect(json.text).toBeUndefined();
    const text = await runCliCaptured(['preflight', '--remote', base, '--sql', SAFE, '--strict'], env);
    expect(text.code).toBe(0);
    expect(text.out).toContain('✅ Deploy preflight: nothing dangerous pending');
    const wrong = { ...env, DBWARDEN_API_TOKEN: `${TOKEN}-wrong` };
    const refused = await runCliCaptured(['preflight', '--remote', base, '--sql', SAFE, '--strict'], wrong);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('dbwarden answered 401');
    expect(refused.err).not.toContain(TOKEN);
    expect((await runCliCaptured(['preflight', '--remote', base, '--sql', SAFE], wrong)).code).toBe(0);
    // Listing the pending SQL failed here: the service reports it as dbwarden failing, as a local run does.
    const missing = await runCliCaptured(
      ['preflight', '--remote', base, '--sql', 'no/such.sql', '--json'],
      env,
    );
    expect(missing.code).toBe(0);
    expect(JSON.parse(missing.out)).toMatchObject({
      verdict: 'warn',
      problems: ['Cannot read the SQL file no/such.sql: no such file'],
    });
    const strictMissing = await runCliCaptured(
      ['preflight', '--remote', base, '--sql', 'no/such.sql', '--strict'],
      env,
    );
    expect(strictMissing.code).toBe(1);
  });

  it.runIf(hasCurl)('accepts the curl example of docs/deploy.md as written', async () => {
    const docs = readFileSync('docs/deploy.md', 'utf8');
    const marker = docs.indexOf('<!-- tested by test/remote-preflight.test.ts -->');
    expect(marker).toBeGreaterThan(0);
    const script = /```sh\n([\s\S]*?)```/.exec(docs.slice(marker))?.[1];
    const run = (sqlFile: string, token = TOKEN) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn('bash', ['--norc', '--noprofile', '-euc', script!], {
          env: { PATH: process.env.PATH, DBWARDEN_URL: base, DBWARDEN_API_TOKEN: token },
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code) => resolve({ code, out, err }));
        child.stdin.end(readFileSync(sqlFile));
      });
    const blocked = await run(DESTRUCTIVE);
    expect(blocked.code, blocked.err).toBe(3);
    expect(blocked.out).toContain('Destructive statements pending');
    expect(blocked.out).toContain('drop-table');
    const safe = await run(SAFE);
    expect(safe.code, safe.err).toBe(0);
    expect(safe.out).toContain('nothing dangerous pending');
    const before = backups().length;
    expect((await run(DESTRUCTIVE, 'wrong-token-wrong-token-wrong')).code).not.toBe(0);
    expect(backups().length).toBe(before);
  });

  it.runIf(hasDjango)(
    'the Django client (served at /preflight/django.py) passes an AddField and blocks a RemoveField with a backup',
    async () => {
      // The app as a team has it, with `python` being a Python that has Django (as in a Django image).
      const app = join(work, 'djangoapp');
      cpSync('test/fixtures/djangoapp', app, { recursive: true });
      const removal = readFileSync(join(app, 'billing/migrations/0003_remove_customer_phone.py'));
      rmSync(join(app, 'billing/migrations/0003_remove_customer_phone.py'));
      const bin = join(work, 'bin');
      mkdirSync(bin);
      symlinkSync(PYTHON, join(bin, 'python'));
      const env = {
        PATH: `${bin}:${process.env.PATH}`,
        DATABASE_URL: appUrl,
        DBWARDEN_URL: base,
        DBWARDEN_API_TOKEN: TOKEN,
      };
      // Asynchronous: the service answering it runs in this very process.
      const sh = (command: string, extra: Record<string, string> = {}) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn('sh', ['-c', command], { cwd: app, env: { ...env, ...extra } });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d) => (stdout += d));
          child.stderr.on('data', (d) => (stderr += d));
          child.on('close', (status) => resolve({ status, stdout, stderr }));
        });
      expect((await sh('python manage.py migrate billing 0001')).status).toBe(0);

      const served = await fetch(`${base}/preflight/django.py`);
      expect(served.status).toBe(200);
      const client = Buffer.from(await served.arrayBuffer());
      expect(client.equals(readFileSync('contrib/django/dbwarden_preflight.py'))).toBe(true);
      writeFileSync(join(app, 'dbwarden_preflight.py'), client);
      const PREDEPLOY = 'python dbwarden_preflight.py --strict && python manage.py migrate';

      // Wrong token: refused, nothing runs, and with --strict the deploy stops (exit 1).
      const before = { backups: backups().length, posts: posts.length };
      const refused = await sh(PREDEPLOY, { DBWARDEN_API_TOKEN: `${TOKEN}-nope` });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('dbwarden answered 401');
      expect(backups().length).toBe(before.backups);
      expect(posts.length).toBe(before.posts);

      // AddField pending: passes, and the migration runs.
      const add = await sh(PREDEPLOY);
      expect(add.status, add.stderr).toBe(0);
      expect(add.stdout).toContain('✅ Deploy preflight: nothing dangerous pending');
      expect(add.stdout).toContain('billing.0002_customer_email');
      expect(backups().length).toBe(before.backups);
      const columns = async () => {
        const client = new pg.Client({ connectionString: appUrl });
        await client.connect();
        try {
          const r = await client.query<{ column_name: string }>(
            `SELECT column_name FROM information_schema.columns WHERE table_name = 'billing_customer'`,
          );
          return r.rows.map((row) => row.column_name);
        } finally {
          await client.end();
        }
      };
      expect(await columns()).toContain('email');

      // RemoveField pending: blocked (exit 3), a verified backup named, and migrate never ran.
      writeFileSync(join(app, 'billing/migrations/0003_remove_customer_phone.py'), removal);
      const remove = await sh(PREDEPLOY);
      expect(remove.status, remove.stderr).toBe(3);
      expect(remove.stdout).toContain('🚨 Deploy preflight: the deploy is stopped (--strict)');
      expect(remove.stdout).toContain('billing.0003_remove_customer_phone');
      expect(remove.stdout).toMatch(/drop-column/);
      const id = /dbwarden restore (\S+) --to/.exec(remove.stdout)?.[1];
      expect(id).toBeDefined();
      expect(JSON.parse(readFileSync(join(store, 'backups', `${id}.json`), 'utf8')).verified).toBe(true);
      expect(await columns()).toContain('phone');
      expect(posts).toContain(id);

      // A person checked it: DBWARDEN_ALLOW_DESTRUCTIVE=1 for this deploy lets it through.
      const allowed = await sh(PREDEPLOY, { DBWARDEN_ALLOW_DESTRUCTIVE: '1' });
      expect(allowed.status, allowed.stderr).toBe(0);
      expect(await columns()).not.toContain('phone');
    },
  );
});

describe('remote preflight off', () => {
  it('has no POST /preflight when DBWARDEN_API_TOKEN is unset (404)', async () => {
    const port = await freePort();
    const off = await serveInProcess({ DATABASE_URL: appUrl, PORT: String(port) });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/preflight`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: '{"migrations": []}',
      });
      expect(res.status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});
