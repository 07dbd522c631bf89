import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { canControlCluster, useTestCluster } from './helpers/cluster.js';
import { FakeDiscord } from './helpers/fake-discord.js';
import { startFakeSlack } from './helpers/fake-slack.js';

const db = useTestCluster();
const work = mkdtempSync(join(tmpdir(), 'dbwarden-preflight-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const SAFE = 'test/fixtures/migrations/django_0004_add_field.sql';
const DESTRUCTIVE = 'test/fixtures/migrations/prisma_migration.sql';
const PYTHON = process.env.DBWARDEN_TEST_PYTHON ?? '/usr/bin/python3';
const hasDjango = spawnSync(PYTHON, ['-c', 'import django, psycopg2'], { stdio: 'ignore' }).status === 0;
if (!hasDjango)
  console.warn(`preflight: --django test left out: ${PYTHON} cannot import django and psycopg2`);

let storeN = 0;
const newStore = () => join(work, `store-${storeN++}`);

/** Run `dbwarden preflight …` in-process; the log (where posts go without a chat) is stderr. */
async function preflight(args: string[], env: Record<string, string> = {}) {
  const { code, out, err } = await runCliCaptured(['preflight', ...args], {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: db.url,
    LOG_LEVEL: 'info',
    ...env,
  });
  // Without a chat, the post is the report: on stdout as text (printed once), on stderr beside --json.
  const posts = `${out}\n${err}`.split('\n').filter((l) => /^(✅|⚠️|🚨) Deploy preflight/.test(l));
  return { code, out, err, posts, json: args.includes('--json') ? JSON.parse(out) : null };
}

describe('dbwarden preflight', () => {
  it('remembers a database on first sight, passes safe SQL and posts the all-clear', async () => {
    await seedDemo(db.url);
    const store = newStore();
    const r = await preflight(['--sql', SAFE, '--json', '--strict'], { DBWARDEN_STORE: store });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({
      verdict: 'pass',
      exitCode: 0,
      database: {
        reachable: true,
        state: 'first-seen',
        display: `postgres://postgres@127.0.0.1:${db.port}/app`,
      },
      pending: [SAFE],
      findings: [],
      destructive: false,
      backup: null,
      blocking: [],
      problems: [],
      posted: true,
    });
    expect(r.posts).toEqual(['✅ Deploy preflight: nothing dangerous pending']);
    const again = await preflight(['--sql', SAFE, '--json'], { DBWARDEN_STORE: store });
    expect(again.json.database.state).toBe('same');
    expect(again.err).not.toContain(db.password);
  });

  it('lists destructive statements; --strict stops the deploy unless DBWARDEN_ALLOW_DESTRUCTIVE=1', async () => {
    const store = newStore();
    const r = await preflight(['--sql', DESTRUCTIVE, SAFE, '--strict'], { DBWARDEN_STORE: store });
    expect(r.code).toBe(3);
    expect(r.out).toContain('Deploy preflight: the deploy is stopped (--strict)');
    expect(r.out).toContain('Destructive statements pending');
    expect(r.out).toMatch(/prisma_migration\.sql:9 drop-table — DROP TABLE "Session"/);
    expect(r.out).toContain('drop-column');
    // Without a chat the post is the report: printed once, not once as a post and again as the output.
    expect(r.posts).toEqual(['🚨 Deploy preflight: the deploy is stopped (--strict)']);
    expect(r.err).not.toContain('Deploy preflight');
    // The stop says how one reviewed deploy gets through.
    expect(r.out).toContain(
      'Checked them and they are meant? Set DBWARDEN_ALLOW_DESTRUCTIVE=1 for this one deploy (where the preflight runs), then remove it.',
    );

    const warned = await preflight(['--sql', DESTRUCTIVE, '--json'], { DBWARDEN_STORE: store });
    expect(warned.code).toBe(0);
    expect(warned.json.verdict).toBe('block');
    expect(warned.json.destructive).toBe(true);

    const allowed = await preflight(['--sql', DESTRUCTIVE, '--json', '--strict'], {
      DBWARDEN_STORE: store,
      DBWARDEN_ALLOW_DESTRUCTIVE: '1',
    });
    expect(allowed.json.blocking).toEqual([]);
    expect(allowed.json.destructive).toBe(true);
    expect(allowed.json.problems).toEqual([]);
    expect(allowed.code).toBe(0);
    const allowedText = await preflight(['--sql', DESTRUCTIVE, '--strict'], {
      DBWARDEN_STORE: store,
      DBWARDEN_ALLOW_DESTRUCTIVE: '1',
    });
    expect(allowedText.out).toContain(
      'Let through: DBWARDEN_ALLOW_DESTRUCTIVE=1 is set (a person checked them).',
    );
  });

  it('without DATABASE_URL, --sql lints the files alone: no database, no backup, nothing posted', async () => {
    const env = { PATH: process.env.PATH ?? '', DBWARDEN_STORE: newStore() };
    const blocked = await runCliCaptured(['preflight', '--sql', DESTRUCTIVE, '--strict'], env);
    expect(blocked.code).toBe(3);
    expect(blocked.out).toContain('Destructive statements pending');
    expect(blocked.out).toContain('no database given (DATABASE_URL unset): the SQL was only linted');
    expect(blocked.out.match(/Deploy preflight: the deploy is stopped/g)).toHaveLength(1);
    expect(blocked.err).toBe('');
    const json = JSON.parse(
      (await runCliCaptured(['preflight', '--sql', SAFE, '--json', '--strict'], env)).out,
    );
    expect(json).toMatchObject({
      verdict: 'pass',
      exitCode: 0,
      database: { state: 'none', reachable: false },
      pending: [SAFE],
      backup: null,
      problems: [],
      posted: false,
    });
    const nothing = await runCliCaptured(['preflight', '--strict'], env);
    expect(nothing.code).toBe(1);
    expect(nothing.err).toContain(
      'DATABASE_URL is not set and no --sql or --django given: nothing to check.',
    );
  });

  it('takes a verified pre-migration backup when destructive SQL is pending, and names it in the post', async () => {
    const store = newStore();
    const r = await preflight(['--sql', DESTRUCTIVE, '--json'], { DBWARDEN_STORE: store });
    expect(r.json.backup).toEqual({ id: expect.any(String), sizeBytes: expect.any(Number), verified: true });
    const id = r.json.backup.id as string;
    const manifest = JSON.parse(readFileSync(join(store, 'backups', `${id}.json`), 'utf8'));
    expect(manifest).toMatchObject({ id, status: 'complete', verified: true, requestedBy: 'preflight' });
    expect(manifest.tables['public.auth_user']).toBe(40);
    expect(statSync(join(store, 'backups', `${id}.dump`)).size).toBe(manifest.sizeBytes);
    expect(r.err).toContain(
      `Restore if the migration goes wrong: dbwarden restore ${id} --to <database-url>`,
    );
    expect(r.err).toContain(id);
    // Nothing destructive: no backup unless --backup asks for one.
    const safe = await preflight(['--sql', SAFE, '--json'], { DBWARDEN_STORE: store });
    expect(safe.json.backup).toBeNull();
    const asked = await preflight(['--sql', SAFE, '--backup', '--json'], { DBWARDEN_STORE: store });
    expect(asked.json.backup.verified).toBe(true);
  });

  it('reports unparseable SQL as a finding, never a pass', async () => {
    const r = await preflight(['--sql', 'test/fixtures/migrations/broken.sql', '--json'], {
      DBWARDEN_STORE: newStore(),
    });
    expect(r.code).toBe(0);
    expect(r.json.findings[0]).toMatchObject({ rule: 'unparseable', severity: 'error' });
    expect(r.json.verdict).toBe('block');
  });

  it('never blocks a deploy because dbwarden failed, unless --strict', async () => {
    const store = newStore();
    const missing = await preflight(['--sql', 'no/such.sql', '--json'], { DBWARDEN_STORE: store });
    expect(missing.code).toBe(0);
    expect(missing.json.problems).toEqual(['Cannot read the SQL file no/such.sql: no such file']);
    expect(missing.json.verdict).toBe('warn');
    const strict = await preflight(['--sql', 'no/such.sql', '--strict'], { DBWARDEN_STORE: store });
    expect(strict.code).toBe(1);
    // The title agrees with the exit code: with --strict, dbwarden failing stops the deploy.
    const stopped = 'Deploy preflight: the deploy is stopped: dbwarden could not check everything (--strict)';
    expect(strict.out).toContain(stopped);
    expect(strict.posts).toEqual([`⚠️ ${stopped}`]);
    expect(strict.out).not.toContain('the deploy goes on');
    const badConfig = await preflight(['--sql', SAFE], {
      DBWARDEN_STORE: store,
      DBWARDEN_COMPRESSION: 'lots',
    });
    expect(badConfig.code).toBe(0);
    expect(badConfig.err).toContain('DBWARDEN_COMPRESSION');
  });

  it('finishes within --timeout when asking for pending migrations hangs', async () => {
    const slow = join(work, 'slow-python');
    writeFileSync(slow, '#!/bin/sh\nexec sleep 60\n');
    chmodSync(slow, 0o755);
    const r = await preflight(['--django', '--timeout', '2s', '--json'], {
      DBWARDEN_STORE: newStore(),
      DBWARDEN_PYTHON: slow,
    });
    expect(r.code).toBe(0);
    expect(r.json.problems[0]).toMatch(
      /ran out of time \(--timeout 2 s\) while reading the pending migrations|was stopped after/,
    );
    expect(r.json.posted).toBe(true);
    const strict = await preflight(['--django', '--timeout', '2s', '--strict'], {
      DBWARDEN_STORE: newStore(),
      DBWARDEN_PYTHON: slow,
    });
    expect(strict.code).toBe(1);
  });

  it.runIf(hasDjango)(
    'asks a real Django project for its unapplied migrations and lints their SQL',
    async () => {
      // A database of its own: the seeded demo tables are not this project's.
      await db.sql('CREATE DATABASE djangoapp');
      const url = db.url.replace(/\/app$/, '/djangoapp');
      const manage = (...args: string[]) =>
        spawnSync(PYTHON, ['manage.py', ...args], {
          cwd: 'test/fixtures/djangoapp',
          env: { PATH: process.env.PATH, DATABASE_URL: url },
          encoding: 'utf8',
        });
      const env = { DATABASE_URL: url, DBWARDEN_STORE: newStore(), DBWARDEN_PYTHON: PYTHON };
      const args = ['--django', '--cwd', 'test/fixtures/djangoapp', '--json', '--strict'];
      expect(manage('migrate', 'billing', '0001').status).toBe(0);
      const r = await preflight(args, env);
      expect(r.json.pending).toEqual(['billing.0002_customer_email', 'billing.0003_remove_customer_phone']);
      expect(r.json.findings.map((f: { source: string; rule: string }) => [f.source, f.rule])).toEqual([
        ['billing.0003_remove_customer_phone', 'drop-column'],
        ['billing.0003_remove_customer_phone', 'drop-column'],
      ]);
      expect(r.code).toBe(3);
      const migrated = manage('migrate');
      expect(migrated.status, migrated.stderr).toBe(0);
      const done = await preflight(args, env);
      expect(done.json.problems).toEqual([]);
      expect(done.json.pending).toEqual([]);
      expect(done.code).toBe(0);
    },
  );

  it.runIf(canControlCluster)('on an unreachable database: warns, and exits 2 with --strict', async () => {
    db.stop();
    try {
      const r = await preflight(['--sql', SAFE, '--json'], { DBWARDEN_STORE: newStore() });
      expect(r.code).toBe(0);
      expect(r.json.database.state).toBe('unreachable');
      expect(r.json.blocking[0]).toContain('Connection refused');
      const strict = await preflight(['--sql', SAFE, '--strict'], { DBWARDEN_STORE: newStore() });
      expect(strict.code).toBe(2);
    } finally {
      db.start();
    }
  });

  it.runIf(canControlCluster)(
    'on a replaced database: --strict exits non-zero and the post says so',
    async () => {
      const store = newStore();
      expect((await preflight(['--sql', SAFE], { DBWARDEN_STORE: store })).code).toBe(0);
      await db.recreate();
      const r = await preflight(['--sql', SAFE, '--strict'], { DBWARDEN_STORE: store });
      expect(r.code).toBe(3);
      expect(r.out).toContain('🚨 REPLACED');
      expect(r.out).toContain('🚨 Database replaced');
      expect(r.out).toContain('is not the same database any more');
      expect(r.posts).toEqual(['🚨 Deploy preflight: the deploy is stopped (--strict)']);
      // Not accepted as the new normal: the next deploy is stopped too.
      expect((await preflight(['--sql', SAFE, '--strict'], { DBWARDEN_STORE: store })).code).toBe(3);
      const lax = await preflight(['--sql', SAFE, '--json'], { DBWARDEN_STORE: store });
      expect(lax.code).toBe(0);
      expect(lax.json.database.state).toBe('replaced');
    },
  );

  it('on an emptied database: --strict exits non-zero; vanished rows alone are a loud warning', async () => {
    const store = newStore();
    await seedDemo(db.url);
    expect((await preflight(['--sql', SAFE], { DBWARDEN_STORE: store })).code).toBe(0);
    await db.sql('DELETE FROM auth_user');
    const dropped = await preflight(['--sql', SAFE, '--strict', '--json'], { DBWARDEN_STORE: store });
    expect(dropped.code).toBe(0);
    expect(dropped.json.verdict).toBe('warn');
    expect(dropped.json.database.state).toBe('same');
    expect(dropped.json.database.dataLoss).toEqual([
      expect.objectContaining({ code: 'rows-dropped', details: ['public.auth_user: 40 → 0 (−100 %)'] }),
    ]);
    await db.sql('TRUNCATE billing_transaction, billing_meter, billing_customer');
    const r = await preflight(['--sql', SAFE, '--strict', '--json'], { DBWARDEN_STORE: store });
    expect(r.code).toBe(3);
    expect(r.json.database.state).toBe('emptied');
    expect(r.json.database.dataLoss[0]).toMatchObject({
      code: 'database-emptied',
      title: 'Database emptied',
    });
  });

  it('posts the deploy warning to Slack; Slack down never blocks a deploy unless --strict', async () => {
    const fake = await startFakeSlack();
    try {
      const env = {
        DBWARDEN_STORE: newStore(),
        SLACK_BOT_TOKEN: fake.botToken,
        SLACK_APP_TOKEN: fake.appToken,
        SLACK_API_URL: fake.apiUrl,
        SLACK_CHANNEL: 'C0DEPLOYS',
      };
      const r = await preflight(['--sql', DESTRUCTIVE, '--json'], env);
      expect(r.code).toBe(0);
      expect(r.json.posted).toBe(true);
      const [post] = fake.api('chat.postMessage');
      expect(post?.body.channel).toBe('C0DEPLOYS');
      expect(String(post?.body.text)).toContain('Deploy preflight');
      expect(post?.raw).toContain('drop-table');
      expect(post?.raw).not.toContain(db.password);

      fake.failNext('chat.postMessage', { status: 503, times: 10 });
      const down = await preflight(['--sql', SAFE, '--json'], env);
      expect(down.code).toBe(0);
      expect(down.json.posted).toBe(false);
      expect(down.json.problems).toEqual([
        'Could not post the deploy warning: Slack chat.postMessage failed: http_503 (after 2 attempts)',
      ]);
      expect(down.err).toContain('chat.postMessage');
      fake.failNext('chat.postMessage', { status: 503, times: 10 });
      const strict = await preflight(['--sql', SAFE, '--strict'], env);
      expect(strict.code).toBe(1);
      // Nothing was posted, and the report printed says the deploy is stopped, as the exit code does.
      expect(strict.out).toContain('the deploy is stopped: dbwarden could not check everything (--strict)');
      expect(strict.out).toContain('Could not post the deploy warning');
    } finally {
      await fake.close();
    }
  });

  it('posts the deploy warning to the Discord channel over REST', async () => {
    const token = ['discord', 'test', Date.now().toString(36), 'x'.repeat(12)].join('.');
    const fake = await new FakeDiscord({ token, applicationId: '100000000000000001' }).start();
    try {
      const r = await preflight(['--sql', DESTRUCTIVE, '--json'], {
        DBWARDEN_STORE: newStore(),
        DISCORD_TOKEN: token,
        DISCORD_APPLICATION_ID: '100000000000000001',
        DISCORD_CHANNEL_ID: '400000000000000009',
        DISCORD_API_URL: fake.apiUrl,
      });
      expect(r.code).toBe(0);
      expect(r.json.posted).toBe(true);
      const post = fake.calls.find(
        (c) => c.method === 'POST' && c.path === '/channels/400000000000000009/messages',
      );
      expect(post?.raw).toContain('Deploy preflight');
      expect(post?.raw).toContain('drop-table');
      expect(post?.raw).not.toContain(db.password);
    } finally {
      await fake.stop();
    }
  });
});
