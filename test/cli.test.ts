import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { canControlCluster, useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();

/** Run the CLI in-process and capture everything it prints. */
const cli = (args: string[], env: Record<string, string>) =>
  runCliCaptured(args, { LOG_LEVEL: 'debug', ...env });

describe('dbwarden status', () => {
  it('prints the JSON shape the docs promise and exits 0', async () => {
    await seedDemo(db.url);
    const r = await cli(['status', '--json'], { DATABASE_URL: db.url, DBWARDEN_ENV: 'staging' });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.target).toEqual({
      name: 'app',
      environment: 'staging',
      display: `postgres://postgres@127.0.0.1:${db.port}/app`,
    });
    expect(s).toMatchObject({
      reachable: true,
      tableCount: 5,
      lastBackup: null,
      migrations: { framework: 'django', applied: 6 },
    });
    expect(typeof s.serverVersion).toBe('string');
    expect(typeof s.sizeBytes).toBe('number');
    expect(s.tables[0]).toEqual({
      schema: 'public',
      name: 'auth_user',
      rows: 40,
      exact: true,
      watched: true,
      sizeBytes: expect.any(Number),
    });
    expect(s.identity).toEqual({
      systemIdentifier: expect.stringMatching(/^\d+$/),
      databaseOid: expect.any(Number),
      databaseName: 'app',
    });
    expect(s.warnings[0]).toEqual({ code: 'no-backup', level: 'warn', message: expect.any(String) });
    expect(r.out).not.toContain(db.password);
  });

  it('prints an aligned text report', async () => {
    const r = await cli(['status'], { DATABASE_URL: db.url });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Database: +postgres:\/\/postgres@127\.0\.0\.1:\d+\/app$/m);
    expect(r.out).toMatch(/^Migrations: +django: 6 applied, latest billing\.0003_transaction_note$/m);
    expect(r.out).toContain('billing_transaction: 20,000 rows');
  });

  it.runIf(canControlCluster)(
    'reaches the database through its Unix socket with a libpq socket URL (empty host, ?host=dir)',
    async () => {
      const socketDir = join(db.cluster!.dir, 'sock');
      const url = `postgres://postgres:${encodeURIComponent(db.password)}@/app?host=${encodeURIComponent(socketDir)}&port=${db.port}`;
      await seedDemo(db.url);
      const r = await cli(['status', '--json'], { DATABASE_URL: url });
      expect(r.code).toBe(0);
      const s = JSON.parse(r.out);
      expect(s).toMatchObject({ reachable: true, tableCount: 5, identity: { databaseName: 'app' } });
      expect(s.target.display).toBe(`postgres://postgres@/app?host=${socketDir}&port=${db.port}`);
      // pg_dump gets the socket directory through PGHOST, as libpq expects.
      const store = mkdtempSync(join(tmpdir(), 'dbwarden-socket-'));
      try {
        const b = await cli(['backup', '--json'], { DATABASE_URL: url, DBWARDEN_STORE: store });
        expect(b.code).toBe(0);
        expect(JSON.parse(b.out)).toMatchObject({ verified: true, sizeBytes: expect.any(Number) });
      } finally {
        rmSync(store, { recursive: true, force: true });
      }
      expect(r.out + r.err).not.toContain(db.password);
    },
  );

  it('reports a wrong password as an auth error that never contains the password', async () => {
    const wrong = 'Wr0ng-pass-4f9d2c';
    const url = db.url.replace(encodeURIComponent(db.password), wrong);
    const r = await cli(['status', '--json'], { DATABASE_URL: url });
    expect(r.code).toBe(2);
    const s = JSON.parse(r.out);
    expect(s.reachable).toBe(false);
    expect(s.error.code).toBe('unreachable-auth');
    expect(s.error.message).toMatch(/Authentication failed for user "postgres"/);
    for (const text of [r.out, r.err]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(db.password);
    }
    const text = await cli(['status'], { DATABASE_URL: url });
    expect(`${text.out}${text.err}`).not.toContain(wrong);
  });

  describe('an unreachable database', () => {
    let silent: Server;
    afterAll(() => silent?.close());

    it.runIf(canControlCluster)(
      'is reported with the reason and exit 2 when the server is down',
      async () => {
        db.stop();
        try {
          const r = await cli(['status', '--json'], { DATABASE_URL: db.url, DBWARDEN_CONNECT_TIMEOUT: '2s' });
          expect(r.code).toBe(2);
          const s = JSON.parse(r.out);
          expect(s).toMatchObject({
            reachable: false,
            error: { code: 'unreachable-refused' },
            tables: [],
            identity: null,
          });
          expect(s.warnings[0]).toMatchObject({ code: 'unreachable', level: 'critical' });
          expect(r.ms).toBeLessThan(2000 + 3000);
        } finally {
          db.start();
        }
      },
    );

    it('gives up within the connect timeout when the server never answers', async () => {
      silent = createServer(() => {}); // accepts connections, never speaks
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (silent.address() as { port: number }).port;
      const r = await cli(['status', '--json'], {
        DATABASE_URL: `postgres://app:s3cret-pw@127.0.0.1:${port}/app`,
        DBWARDEN_CONNECT_TIMEOUT: '1s',
      });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.out).error).toMatchObject({
        code: 'unreachable-timeout',
        message: expect.stringContaining(`127.0.0.1:${port}`),
      });
      expect(r.ms).toBeLessThan(1000 + 3000);
      expect(r.out + r.err).not.toContain('s3cret-pw');
    });

    it('names a host that does not resolve', async () => {
      const r = await cli(['status', '--json'], {
        DATABASE_URL: 'postgres://app:pw-123456@no-such-host.invalid:5432/app',
      });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.out).error).toMatchObject({
        code: 'unreachable-dns',
        message: 'Cannot resolve host no-such-host.invalid',
      });
    });
  });
});

describe('dbwarden --version and --help', () => {
  it('print the version and the verbs without any configuration', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const v = await cli(['--version'], {});
    expect(v).toMatchObject({ code: 0, out: `dbwarden ${pkg.version}\n` });
    const h = await cli(['--help'], {});
    expect(h.code).toBe(0);
    for (const verb of ['serve', 'status', 'backup', 'verify', 'restore', 'digest', 'preflight'])
      expect(h.out).toContain(`  ${verb}`);
  });
});

describe('configuration and usage errors', () => {
  it('names every bad variable in one error, without echoing values, and exits 1', async () => {
    const r = await cli(['status'], {
      DATABASE_URL: 'mysql://root:hunter2-secret@db/app',
      DBWARDEN_KEEP_DAILY: 'seven',
      DBWARDEN_TIMEZONE: 'Mars/Olympus',
      DBWARDEN_BACKUP_CRON: 'daily',
      SLACK_BOT_TOKEN: 'not-a-token-abcdef',
    });
    expect(r.code).toBe(1);
    for (const name of [
      'DATABASE_URL',
      'DBWARDEN_KEEP_DAILY',
      'DBWARDEN_TIMEZONE',
      'DBWARDEN_BACKUP_CRON',
      'SLACK_BOT_TOKEN',
      'SLACK_APP_TOKEN or SLACK_SIGNING_SECRET',
    ])
      expect(r.err).toContain(name);
    expect(r.err).toContain('6 problems');
    expect(r.err).not.toContain('hunter2-secret');
    expect(r.err).not.toContain('not-a-token-abcdef');
    expect(r.out).toBe('');
  });

  it('rejects unknown verbs and flags with help, and answers --help on every verb', async () => {
    const verb = await cli(['stauts'], {});
    expect(verb.code).toBe(1);
    expect(verb.err).toContain('unknown verb "stauts"');
    const flag = await cli(['status', '--jsn'], {});
    expect(flag.code).toBe(1);
    expect(flag.err).toMatch(/Unknown option '--jsn'/);
    for (const v of ['status', 'serve']) {
      const help = await cli([v, '--help'], {});
      expect(help.code).toBe(0);
      expect(help.out).toContain(`Usage: dbwarden ${v}`);
    }
  });

  it('echoes input without terminal escapes and cut short: verbs, flags, backup ids, URLs', async () => {
    // OSC 0 retitles the terminal, CSI 2J clears it, a bidi override reorders what is shown.
    const nasty = '\u001b]0;owned\u0007\u001b[2J\u001b[31mred\u202e';
    const noEscapes = (text: string) => expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
    const verb = await cli([`st${nasty}`], {});
    expect(verb.code).toBe(1);
    expect(verb.err).toContain('unknown verb "st?]0;owned??[2J?[31mred?"');
    noEscapes(verb.err);

    const huge = `--${'x'.repeat(100_000)}`;
    const flag = await cli(['status', huge], {});
    expect(flag.code).toBe(1);
    expect(flag.err).toMatch(/Unknown option '--x+…'/);
    expect(flag.err.length).toBeLessThan(3000);
    noEscapes((await cli(['status', `--${nasty}`], {})).err);

    const store = mkdtempSync(join(tmpdir(), 'dbwarden-echo-'));
    try {
      const env = { DATABASE_URL: db.url, DBWARDEN_STORE: store, LOG_LEVEL: 'silent' };
      for (const args of [
        ['verify', `2026${nasty}`],
        ['restore', `2026${nasty}`, '--to', db.url.replace(/\/app$/, '/elsewhere')],
        ['verify', `${'9'.repeat(5000)}`],
      ]) {
        const r = await cli(args, env);
        expect(r.code).toBe(1);
        expect(r.err).toContain('No backup ');
        noEscapes(r.err);
        expect(r.err.length).toBeLessThan(600);
      }
      const badTo = await cli(
        ['restore', '20260101T000000Z-abcd', '--to', 'postgres://app:%ZZs3cret@h/db'],
        env,
      );
      expect(badTo.code).toBe(1);
      expect(badTo.err).toContain('--to must not have a malformed %-escape in its password');
      expect(badTo.err).not.toContain('s3cret');
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });
});
