import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createConsoleNotifier } from '../src/chat/console/console-notifier.js';
import type { Notifier } from '../src/core/notifier.js';
import { probeStatus } from '../src/core/status.js';
import { createTarget, type Target } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import { watchOnce } from '../src/guard/watch.js';
import type { BlobStore } from '../src/store/blob-store.js';
import { createFileStore } from '../src/store/file-store.js';
import { runCliCaptured } from './helpers/cli.js';
import { useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';
import { useS3Server } from './helpers/s3-server.js';
import { serveInProcess } from './helpers/serve.js';
import { mountSmallDisk } from './helpers/small-disk.js';
import { spawnCli } from './helpers/spawn-cli.js';

const db = useTestCluster();
const WATCH = 'auth_user,billing_customer,billing_meter,billing_transaction';
const dirs: string[] = [];
const targets: Target[] = [];
// A real full filesystem where this sandbox lets us mount a tmpfs; elsewhere those tests skip and the
// failing-store wrapper below covers the same logic.
const disk = mountSmallDisk(2048);
afterAll(async () => {
  for (const t of targets) await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  disk?.unmount();
});

beforeEach(async () => {
  await db.sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await seedDemo(db.url);
});

const flush = () =>
  db.sql(
    'TRUNCATE auth_user, billing_customer, billing_meter, billing_transaction, django_migrations CASCADE',
  );

/** The team channel as text, through the real console notifier. */
function channel(): Notifier & { text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c) => {
    text += c.toString();
  });
  const con = createConsoleNotifier(out);
  return { name: 'test-channel', text: () => text, post: (r) => con.post(r) };
}

const count = (text: string, s: string) => text.split(s).length - 1;

/**
 * A file store whose writes fail with the kernel's ENOSPC while `full` is set: used where a real full disk cannot
 * be had for an in-process round (the tmpfs tests below use a real one).
 */
function fillableStore(dir: string): BlobStore & { full: boolean } {
  const inner = createFileStore(dir);
  const enospc = () =>
    Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28 });
  const store = {
    ...inner,
    full: false,
    async put(...args: Parameters<BlobStore['put']>) {
      if (store.full) throw enospc();
      return inner.put(...args);
    },
  };
  return store;
}

describe('a store that cannot be written never silences the guard (issue 13)', () => {
  it('watch rounds with a full store: the data loss and store-failing posted once each, resolved when it frees', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-fillable-'));
    dirs.push(dir);
    const store = fillableStore(dir);
    const target = createTarget(db.url, {
      environment: 'test',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    targets.push(target);
    const ch = channel();
    const watch = () =>
      watchOnce({
        store,
        probe: () => probeStatus({ target, watchTables: WATCH.split(',') }),
        notifier: ch,
        guardConfig: {
          environment: 'test',
          target: { name: 'app', display: target.display, host: target.host },
          backupMaxAgeMs: 26 * 3_600_000,
          rowsDropPct: 20,
          unreachableChecks: 2,
          drillsConfigured: false,
        },
        clock: () => new Date(),
        timezone: 'UTC',
      });
    await watch();
    store.full = true;
    await flush();
    const r = await watch();
    expect(r.posted).toEqual(
      expect.arrayContaining([
        { code: 'database-emptied', kind: 'new' },
        { code: 'store-failing', kind: 'new' },
      ]),
    );
    await watch();
    await watch();
    expect(count(ch.text(), '[database-emptied]')).toBe(1);
    expect(count(ch.text(), '[store-failing]')).toBe(1);
    expect(ch.text()).toMatch(
      /could not save the snapshot, save the open warnings in its store .*the disk is full/,
    );
    store.full = false;
    const freed = await watch();
    expect(freed.posted).toEqual([{ code: 'store-failing', kind: 'resolved' }]);
    expect(ch.text()).toMatch(
      /Resolved on app: Store failing[\s\S]*\[store-failing\] — open since .*, now clear/,
    );
    // The data is still gone: that warning stays open, and is not posted again.
    expect(count(ch.text(), '[database-emptied]')).toBe(1);
    expect((await watch()).posted).toEqual([]);
  }, 60_000);

  it.skipIf(!disk)(
    'watch --once on a really full disk after TRUNCATE: posts the data loss and store-failing, exits 3',
    async () => {
      const d = disk!;
      const env = {
        DATABASE_URL: db.url,
        DBWARDEN_STORE: join(d.store, 'once'),
        DBWARDEN_WATCH_TABLES: WATCH,
        DBWARDEN_ENV: 'development',
        LOG_LEVEL: 'warn',
      };
      expect((await runCliCaptured(['watch', '--once'], env)).code).toBe(0);
      d.fill();
      try {
        await flush();
        const r = await runCliCaptured(['watch', '--once', '--json'], env);
        expect(r.err).not.toContain('This is a bug in dbwarden');
        expect(r.code).toBe(3);
        const out = JSON.parse(r.out);
        expect(out.posted).toEqual(
          expect.arrayContaining([
            { code: 'database-emptied', kind: 'new' },
            { code: 'store-failing', kind: 'new' },
          ]),
        );
        // The console is the channel here (no chat configured): both were posted.
        expect(r.err).toContain('[database-emptied]');
        expect(r.err).toMatch(/\[store-failing\][\s\S]*the disk is full/);
      } finally {
        d.free();
      }
    },
    60_000,
  );

  it.skipIf(!disk)(
    'serve: the store fills up mid-run and frees again: the data loss is posted while full, then store-failing resolves',
    async () => {
      const d = disk!;
      const ch = new PassThrough();
      let posts = '';
      ch.on('data', (c) => {
        posts += c.toString();
      });
      const bot = await serveInProcess(
        {
          DATABASE_URL: db.url,
          DBWARDEN_STORE: join(d.store, 'serve'),
          DBWARDEN_WATCH_TABLES: WATCH,
          DBWARDEN_ENV: 'development',
          DBWARDEN_WATCH_CRON: '*/2 * * * * *',
          LOG_LEVEL: 'info',
        },
        { consoleOutput: ch, schedule: { settleMs: 200 } },
      );
      const rounds = () => count(bot.logs(), '"msg":"watch round done"');
      try {
        await eventually('a first watch round', () => (rounds() >= 1 ? true : undefined), 30_000);
        d.fill();
        await flush();
        await eventually(
          'the data loss posted',
          () => (posts.includes('[database-emptied]') ? true : undefined),
          30_000,
        );
        await eventually(
          'store-failing posted',
          () => (posts.includes('[store-failing]') ? true : undefined),
          30_000,
        );
        const seen = rounds();
        await eventually(
          'three more rounds on the full store',
          () => (rounds() >= seen + 3 ? true : undefined),
          30_000,
        );
        expect(count(posts, '[database-emptied]')).toBe(1);
        expect(count(posts, '[store-failing]')).toBe(1);
        expect(bot.logs()).toContain('schedule: could not write the run marker');
        expect(bot.logs()).toContain('ENOSPC');
        d.free();
        await eventually(
          'store-failing resolved',
          () => (/Resolved on .*: Store failing/.test(posts) ? true : undefined),
          30_000,
        );
        expect(count(posts, '[database-emptied]')).toBe(1);
      } finally {
        await bot.stop();
      }
    },
    120_000,
  );
});

describe('a store that cannot be read or does not answer: status and the guard say so (issue 13)', () => {
  const s3 = useS3Server({ buckets: ['dbwarden-backups'] });
  let silent: Server | null = null;
  afterAll(() => silent?.close());

  /** `dbwarden <args>` as its own process, with its own AWS keys (the SDK reads them from the process env). */
  async function run(args: string[], env: Record<string, string>) {
    const started = Date.now();
    const p = spawnCli(args, {
      DATABASE_URL: db.url,
      DBWARDEN_ENV: 'development',
      DBWARDEN_STORE: 's3://dbwarden-backups/prod',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      LOG_LEVEL: 'warn',
      ...env,
    });
    try {
      const { code } = await p.exited;
      return { code, log: p.log(), ms: Date.now() - started };
    } finally {
      p.kill();
    }
  }
  const jsonOf = (log: string) => JSON.parse(log.slice(log.indexOf('{\n'), log.lastIndexOf('\n}') + 2));

  it('S3 keys rejected: status says the store cannot be read and why, never "no backup yet"', async () => {
    const env = { S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: 'AKIAWRONGKEY0000' };
    const j = jsonOf((await run(['status', '--json'], env)).log);
    expect(j.lastBackup).toBeNull();
    expect(j.warnings.map((w: { code: string }) => w.code)).toContain('store-unreadable');
    expect(j.warnings.map((w: { code: string }) => w.code)).not.toContain('no-backup');
    const w = j.warnings.find((x: { code: string }) => x.code === 'store-unreadable');
    expect(w.message).toMatch(/store cannot be read.*rejected the credentials.*InvalidAccessKeyId/);
    const text = (await run(['status'], env)).log;
    expect(text).toMatch(
      /Last backup: +unknown: the store cannot be read \(S3 at 127\.0\.0\.1:\d+ rejected the credentials/,
    );
    expect(text).not.toMatch(/none yet|No good backup yet/);
    expect(text).not.toContain(s3.secretAccessKey === 'S3RVER' ? 'AKIAWRONGKEY0000:' : s3.secretAccessKey);
  }, 60_000);

  it('S3 endpoint down (refused): status names the endpoint and the reason', async () => {
    const port = await freePort();
    const r = await run(['status', '--json'], { S3_ENDPOINT: `http://127.0.0.1:${port}` });
    const w = jsonOf(r.log).warnings.find((x: { code: string }) => x.code === 'store-unreadable');
    expect(w.message).toMatch(
      new RegExp(`store cannot be read.*127\\.0\\.0\\.1:${port} could not be reached.*ECONNREFUSED`),
    );
  }, 60_000);

  it('an S3 endpoint that accepts and never answers: status and watch --once answer within seconds', async () => {
    silent = createServer(() => {}); // accepts TCP, never replies
    await new Promise<void>((r) => silent!.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const s = await run(['status', '--json'], { S3_ENDPOINT: endpoint });
    expect(s.code).toBe(0);
    const w = jsonOf(s.log).warnings.find((x: { code: string }) => x.code === 'store-unreadable');
    expect(w.message).toMatch(/store cannot be read.*s3:\/\/dbwarden-backups\/prod does not answer/);
    expect(s.ms).toBeLessThan(40_000);
    const g = await run(['watch', '--once', '--json'], { S3_ENDPOINT: endpoint });
    expect(g.ms).toBeLessThan(40_000);
    const posted = jsonOf(g.log).posted.map((p: { code: string }) => p.code);
    expect(posted).toContain('store-failing');
    expect(g.log).toMatch(/Store failing[\s\S]*does not answer/);
  }, 120_000);
});
