import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';
import { eventually } from './helpers/net.js';
import { spawnCli } from './helpers/spawn-cli.js';

const db = useTestCluster();
const store = mkdtempSync(join(tmpdir(), 'dbwarden-cli-store-'));

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await runCliCaptured(args, {
    LOG_LEVEL: 'warn',
    DATABASE_URL: db.url,
    DBWARDEN_STORE: store,
    ...env,
  });
  for (const text of [r.out, r.err]) expect(text).not.toContain(db.password);
  return r;
}

const sample = `SELECT (SELECT count(*) FROM auth_user) AS users, (SELECT count(*) FROM billing_transaction) AS tx,
  (SELECT string_agg(username || ':' || email, ',' ORDER BY id) FROM auth_user WHERE id % 7 = 0) AS some_users,
  (SELECT sum(amount_cents)::text FROM billing_transaction) AS total,
  (SELECT string_agg(id::text || ':' || amount_cents, ',' ORDER BY id) FROM billing_transaction WHERE id % 997 = 0) AS some_tx`;

describe('dbwarden backup, backups, verify, restore', () => {
  let id = '';

  it('backup --json prints the promised shape and status then shows it as the last backup', async () => {
    await seedDemo(db.url);
    const r = await cli(['backup', '--json']);
    expect(r.code).toBe(0);
    const b = JSON.parse(r.out);
    expect(Object.keys(b).sort()).toEqual(
      ['finishedAt', 'id', 'location', 'sha256', 'sizeBytes', 'startedAt', 'verified'].sort(),
    );
    expect(b).toMatchObject({ verified: true, location: `${store}/backups/${b.id}.dump` });
    expect(b.sha256).toMatch(/^[0-9a-f]{64}$/);
    id = b.id;
    const s = JSON.parse((await cli(['status', '--json'])).out);
    expect(s.lastBackup).toEqual({
      id,
      finishedAt: b.finishedAt,
      ageSeconds: expect.any(Number),
      verified: true,
      sizeBytes: b.sizeBytes,
    });
    expect(s.warnings.map((w: { code: string }) => w.code)).not.toContain('no-backup');
  });

  it('backup without --json prints the confirmation; backups lists newest first', async () => {
    const r = await cli(['backup']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Backup of app complete/);
    expect(r.out).toMatch(/^SHA-256: +[0-9a-f]{12}…$/m);
    expect(r.out).toMatch(/^Verified: +✓/m);
    const list = JSON.parse((await cli(['backups', '--json'])).out);
    expect(list).toHaveLength(2);
    expect(list[1].id).toBe(id);
    const text = (await cli(['backups'])).out;
    expect(text.split('\n')[0]).toMatch(/^ID +STATUS +SIZE +AGE/);
    expect(text).toContain(`${id}  verified`);
  });

  it('a failing backup prints {error} JSON with a hint and exits non-zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-old-'));
    writeFileSync(join(dir, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 11.22"\n');
    chmodSync(join(dir, 'pg_dump'), 0o755);
    const r = await cli(['backup', '--json'], { PG_DUMP: join(dir, 'pg_dump') });
    expect(r.code).toBe(1);
    const e = JSON.parse(r.out).error;
    expect(e.code).toBe('tool-missing');
    expect(e.message).toMatch(/^pg_dump 11\.22 .* cannot back up PostgreSQL \d+/);
    expect(e.hint).toMatch(/postgresql-client-\d+/);
    expect(r.err).toContain('→ Install postgresql-client-');
  });

  it('verify --drill --json checks the checksum, the archive and a real restore', async () => {
    const r = await cli(['verify', id, '--drill', '--json']);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.out);
    expect(v).toMatchObject({ id, ok: true, verified: true, drill: { ok: true, tables: 5, rows: 20896 } });
    const listed = JSON.parse((await cli(['backups', '--json'])).out);
    expect(listed.map((m: { status: string }) => m.status)).toEqual(['failed', 'complete', 'complete']);
    expect(listed.find((m: { id: string }) => m.id === id).drill.ok).toBe(true);
    const missing = await cli(['verify', '20200101T000000Z-abcdef', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.out).error.code).toBe('backup-not-found');
  });

  it('ids: `latest`, a unique prefix or the last characters; an ambiguous or unknown one is refused', async () => {
    const listed = JSON.parse((await cli(['backups', '--json'])).out) as { id: string; status: string }[];
    const newestGood = listed.find((m) => m.status === 'complete')!.id;
    expect(JSON.parse((await cli(['verify', 'latest', '--json'])).out)).toMatchObject({
      id: newestGood,
      ok: true,
    });
    expect(JSON.parse((await cli(['verify', id.slice(-6), '--json'])).out)).toMatchObject({ id, ok: true });
    expect(JSON.parse((await cli(['verify', id.slice(0, -2), '--json'])).out)).toMatchObject({
      id,
      ok: true,
    });
    const ambiguous = await cli(['verify', '2', '--json']);
    expect(ambiguous.code).toBe(1);
    expect(JSON.parse(ambiguous.out).error).toMatchObject({ code: 'backup-ambiguous' });
    expect(JSON.parse(ambiguous.out).error.message).toContain('matches 3 backups');
    const unknown = await cli(['verify', 'ffffff']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/No backup ffffff in .*\n.*`latest`/);
  });

  it('round trip: drop the data, restore, identical counts and rows; unsafe restores refused', async () => {
    const before = (await adminQuery(db.url, sample)).rows[0];
    expect(Number(before.tx)).toBe(20000);

    const refused = await cli(['restore', id, '--to', db.url, '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.out).error).toMatchObject({ code: 'restore-refused' });
    expect(JSON.parse(refused.out).error.message).toMatch(/is the database dbwarden guards/);

    await adminQuery(db.url, 'CREATE DATABASE copy');
    const copy = db.url.replace(/\/app$/, '/copy');
    const fresh = await cli(['restore', id, '--to', copy, '--json']);
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.out).tables).toContainEqual({
      name: 'public.billing_transaction',
      rows: 20000,
      atBackup: 20000,
    });
    expect((await adminQuery(copy, sample)).rows[0]).toEqual(before);

    const notEmpty = await cli(['restore', id, '--to', copy]);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.err).toMatch(/is not empty: it has 5 table\(s\)/);
    expect(notEmpty.err).toContain('--clean');

    // The guarded database cannot be reached from here: --clean could be wiping it under another address.
    const unreachableProd = db.url.replace(/:(\d+)\/app$/, ':1/app');
    const unsure = await cli(['restore', id, '--to', copy, '--clean'], { DATABASE_URL: unreachableProd });
    expect(unsure.code).toBe(1);
    expect(unsure.err).toMatch(/cannot tell whether .* is the database dbwarden guards/);
    expect((await adminQuery(copy, sample)).rows[0]).toEqual(before);

    await adminQuery(db.url, 'DROP TABLE billing_transaction, billing_meter, billing_customer, auth_user');
    const back = await cli(['restore', id, '--to', db.url, '--clean', '--i-know-this-is-production']);
    expect(back.code).toBe(0);
    expect(back.out).toContain('--clean: will drop and recreate 1 table(s): public.django_migrations');
    expect(back.out).toMatch(/Checksum verified: sha256 [0-9a-f]{12}…/);
    expect(back.out).toMatch(/public\.billing_transaction +20,000 +\(20,000\)/);
    expect((await adminQuery(db.url, sample)).rows[0]).toEqual(before);
  });

  it('shows a progress line redrawn in place when stderr is a terminal', async () => {
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    let err = '';
    stderr.on('data', (d) => (err += d));
    stdout.resume();
    const code = await runCli(['backup'], {
      stdout,
      stderr,
      env: { LOG_LEVEL: 'warn', DATABASE_URL: db.url, DBWARDEN_STORE: store },
    });
    expect(code).toBe(0);
    expect(err).toMatch(/\r\x1b\[K[▓░]+ \d+% {2}(Starting|Dumping|Publishing|Verifying) · /);
    expect(err.endsWith('\r\x1b[K')).toBe(true);
  });

  it('restore without --to is a usage error', async () => {
    const r = await cli(['restore', id]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/needs --to/);
  });
});

describe('restore by `latest` and by a unique prefix, end to end', () => {
  it('restores the newest good backup or the one a prefix names; an ambiguous or unknown id changes nothing', async () => {
    // Its own database and store: two backups that differ in one table, told apart after each restore.
    const own = mkdtempSync(join(tmpdir(), 'dbwarden-cli-ids-'));
    const url = (name: string) => db.url.replace(/\/app$/, `/${name}`);
    for (const name of ['ids_src', 'ids_latest', 'ids_prefix', 'ids_untouched'])
      await adminQuery(db.url, `CREATE DATABASE ${name}`);
    const env = { DATABASE_URL: url('ids_src'), DBWARDEN_STORE: own };
    const marks = async (name: string) =>
      (await adminQuery(url(name), 'SELECT v FROM mark ORDER BY v')).rows.map((r) => r.v);
    const backup = async () => {
      const r = await cli(['backup', '--json'], env);
      expect(r.code).toBe(0);
      return JSON.parse(r.out).id as string;
    };
    await adminQuery(url('ids_src'), `CREATE TABLE mark (v text); INSERT INTO mark VALUES ('older')`);
    const older = await backup();
    await adminQuery(url('ids_src'), `INSERT INTO mark VALUES ('newer')`);
    const newer = await backup();

    const latest = await cli(['restore', 'latest', '--to', url('ids_latest'), '--json'], env);
    expect(latest.code).toBe(0);
    expect(JSON.parse(latest.out)).toMatchObject({ id: newer, tables: [{ name: 'public.mark', rows: 2 }] });
    expect(await marks('ids_latest')).toEqual(['newer', 'older']);

    // The shortest prefix that names the older backup alone: one character past what both ids share.
    let shared = 0;
    while (older[shared] === newer[shared]) shared++;
    const byPrefix = await cli(
      ['restore', older.slice(0, shared + 1), '--to', url('ids_prefix'), '--json'],
      env,
    );
    expect(byPrefix.code).toBe(0);
    expect(JSON.parse(byPrefix.out)).toMatchObject({ id: older, tables: [{ name: 'public.mark', rows: 1 }] });
    expect(await marks('ids_prefix')).toEqual(['older']);

    const storeBefore = filesIn(own).sort();
    const ambiguous = await cli(
      ['restore', older.slice(0, shared), '--to', url('ids_untouched'), '--json'],
      env,
    );
    expect(ambiguous.code).toBe(1);
    expect(JSON.parse(ambiguous.out).error).toMatchObject({ code: 'backup-ambiguous' });
    expect(JSON.parse(ambiguous.out).error.message).toContain('matches 2 backups');
    // Unknown: a whole id that is not in the store, and a short one that matches nothing.
    for (const ref of ['20200101T000000.000Z-abcdef', 'ffffffff']) {
      const unknown = await cli(['restore', ref, '--to', url('ids_untouched'), '--json'], env);
      expect(unknown.code).toBe(1);
      expect(JSON.parse(unknown.out).error).toMatchObject({ code: 'backup-not-found' });
      expect(unknown.err).toContain(`No backup ${ref} in ${own}`);
    }
    const tables = await adminQuery(
      url('ids_untouched'),
      `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`,
    );
    expect(tables.rows[0].n).toBe(0);
    expect(filesIn(own).sort()).toEqual(storeBefore);
  });
});

/** Files under a store directory, as paths relative to it. */
function filesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Live processes whose command line names `text` (a store directory: pg_dump's --file). */
function processesNaming(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * A backup held mid-dump: a session holds an ACCESS EXCLUSIVE lock on a table, so the real pg_dump (and the row
 * counts) wait on it with the dump's temporary file open in the store. Released by the returned function.
 */
async function holdDumpMidway(): Promise<() => Promise<void>> {
  const seeded = await adminQuery(db.url, `SELECT to_regclass('billing_transaction') IS NOT NULL AS ok`);
  if (!seeded.rows[0].ok) await seedDemo(db.url);
  const c = new pg.Client({ connectionString: db.url });
  c.on('error', () => {});
  await c.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE billing_transaction IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await c.query('ROLLBACK').catch(() => {});
    await c.end();
  };
}

describe('an interrupted backup leaves nothing behind (issue 13)', () => {
  it('SIGKILL mid-dump leaves a partial dump; the next backup removes it', async () => {
    const own = mkdtempSync(join(tmpdir(), 'dbwarden-cli-killed-'));
    const release = await holdDumpMidway();
    const p = spawnCli(['backup'], { LOG_LEVEL: 'warn', DATABASE_URL: db.url, DBWARDEN_STORE: own });
    let partial: string;
    try {
      partial = await eventually(
        'the dump to be writing',
        () => filesIn(own).find((f) => /^backups\/incoming\/.+\.dump\.partial-/.test(f)),
        60_000,
      );
      p.child.kill('SIGKILL');
      await p.exited;
      // pg_dump writes that file itself: it must die with dbwarden, not finish it behind the next backup's back.
      await eventually(
        'pg_dump to die with dbwarden',
        () => processesNaming(own).length === 0 || undefined,
        10_000,
      );
    } finally {
      await release();
      p.kill();
    }
    expect(filesIn(own)).toContain(partial);
    const second = await cli(['backup', '--json'], { DBWARDEN_STORE: own, LOG_LEVEL: 'info' });
    expect(second.code).toBe(0);
    expect(second.err).toContain('removed leftovers of interrupted backups');
    const left = filesIn(own).filter((f) => f.startsWith('backups/'));
    expect(left.filter((f) => f.includes('.partial-') || f.includes('incoming'))).toEqual([]);
    const { id: newId } = JSON.parse(second.out);
    expect(left.sort()).toEqual([`backups/${newId}.dump`, `backups/${newId}.json`]);
  }, 120_000);

  it('Ctrl-C (SIGINT) mid-dump stops cleanly: a clear line, exit 1, no manifest, no temporary dump', async () => {
    const own = mkdtempSync(join(tmpdir(), 'dbwarden-cli-interrupted-'));
    const release = await holdDumpMidway();
    const p = spawnCli(['backup'], { LOG_LEVEL: 'warn', DATABASE_URL: db.url, DBWARDEN_STORE: own });
    try {
      await eventually(
        'the dump to be writing',
        () => filesIn(own).find((f) => f.includes('.partial-')),
        60_000,
      );
      p.child.kill('SIGINT');
      const { code } = await p.exited;
      expect(code).toBe(1);
    } finally {
      await release();
      p.kill();
    }
    expect(p.log()).toContain('SIGINT received: stopping the dump; nothing is kept');
    expect(p.log()).toMatch(/dbwarden backup: The backup was cancelled \(SIGINT\): no backup was taken/);
    expect(filesIn(own).filter((f) => f.startsWith('backups/'))).toEqual([]);
  }, 120_000);
});
