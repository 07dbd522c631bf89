import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { backupListReport, shortRef } from '../src/backup/backup-list-report.js';
import { backupDoneReport } from '../src/backup/backup-report.js';
import { applyRetention, planRetention } from '../src/backup/retention.js';
import { renderText } from '../src/chat/console/render-text.js';
import { shortRecipient } from '../src/core/age-keys.js';
import { buildServices } from '../src/main.js';
import { runScheduledDrill } from '../src/serve/scheduled-jobs.js';
import { createCatalog } from '../src/store/catalog.js';
import { createFileStore } from '../src/store/file-store.js';
import { backupServiceFor, tempStore } from './helpers/backup.js';
import { runCliCaptured } from './helpers/cli.js';
import { adminQuery, useTestCluster } from './helpers/cluster.js';
import { QUIET_SCHEDULE, serveInProcess } from './helpers/serve.js';

const db = useTestCluster();
const store = mkdtempSync(join(tmpdir(), 'dbwarden-age-store-'));
const keys = mkdtempSync(join(tmpdir(), 'dbwarden-age-keys-'));
const PG_BIN = '/usr/lib/postgresql/15/bin';
// A row's text and a table's name that must never be readable in the store.
const NEEDLE = 'needle-4242-alice@example.com';
const TABLE = 'customer_secrets_x9';

let identity = '';
let recipient = '';
let wrongIdentity = '';
let identityFile = '';

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await runCliCaptured(args, {
    LOG_LEVEL: 'warn',
    DATABASE_URL: db.url,
    DBWARDEN_STORE: store,
    // Uncompressed, so the plaintext archive holds the needle and the test below means something.
    DBWARDEN_COMPRESSION: '0',
    ...env,
  });
  // No private key ever appears in what dbwarden prints, whatever happened.
  for (const text of [r.out, r.err]) expect(text).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{8}/);
  return r;
}
const encrypted = () => ({ DBWARDEN_AGE_RECIPIENTS: recipient });
const withKey = () => ({ DBWARDEN_AGE_IDENTITY: identityFile });

async function freshDb(name: string): Promise<string> {
  const u = new URL(db.url);
  await adminQuery(db.url, `CREATE DATABASE ${name}`);
  u.pathname = `/${name}`;
  return u.toString();
}

async function count(url: string, table: string): Promise<number> {
  return Number((await adminQuery(url, `SELECT count(*) AS n FROM ${table}`)).rows[0].n);
}

describe('encrypted backups with age (file store)', () => {
  let plainId = '';
  let sealedId = '';

  beforeAll(async () => {
    identity = await generateX25519Identity();
    recipient = await identityToRecipient(identity);
    wrongIdentity = await generateX25519Identity();
    identityFile = join(keys, 'key.txt');
    writeFileSync(identityFile, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
    await db.sql(`CREATE TABLE ${TABLE} (id serial PRIMARY KEY, note text NOT NULL)`);
    await db.sql(
      `INSERT INTO ${TABLE} (note) SELECT CASE WHEN g = 7 THEN $1 ELSE 'row ' || g END FROM generate_series(1, 3000) g`,
      [NEEDLE],
    );
  });

  it('a plain backup first, then an encrypted one: the manifest records both digests and the recipient', async () => {
    const plain = await cli(['backup', '--json']);
    expect(plain.code).toBe(0);
    plainId = JSON.parse(plain.out).id;
    const r = await cli(['backup', '--json'], encrypted());
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    sealedId = out.id;
    expect(out).toMatchObject({
      encrypted: 'age',
      recipients: [recipient],
      storedSha256: expect.any(String),
    });
    expect(JSON.parse(plain.out).encrypted).toBeUndefined();
    const m = JSON.parse(readFileSync(join(store, 'backups', `${sealedId}.json`), 'utf8'));
    expect(m).toMatchObject({
      status: 'complete',
      verified: true,
      encrypted: 'age',
      recipients: [recipient],
    });
    expect(m.tables[`public.${TABLE}`]).toBe(3000);
    const stored = readFileSync(join(store, m.dumpKey));
    expect(m.storedSha256).toBe(createHash('sha256').update(stored).digest('hex'));
    expect(m.storedSizeBytes).toBe(stored.length);
    expect(m.storedSha256).not.toBe(m.sha256);
    expect(m.timings.encryptMs).toBeGreaterThan(0);
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    // Nothing but the encrypted object and its manifest was left in the store.
    expect(
      readdirSync(join(store, 'backups'))
        .filter((n) => n.startsWith(sealedId))
        .sort(),
    ).toEqual([`${sealedId}.dump`, `${sealedId}.json`]);
    expect(statSync(join(store, m.dumpKey)).mode & 0o077).toBe(0);
  });

  it('the stored object holds neither the table names nor a row’s text; the plain backup does (uncompressed)', () => {
    const sealed = readFileSync(join(store, 'backups', `${sealedId}.dump`));
    const plain = readFileSync(join(store, 'backups', `${plainId}.dump`));
    expect(plain.includes(TABLE)).toBe(true);
    expect(plain.includes(NEEDLE)).toBe(true);
    expect(sealed.includes(TABLE)).toBe(false);
    expect(sealed.includes(NEEDLE)).toBe(false);
    expect(sealed.includes('billing')).toBe(false);
  });

  it('the age command-line tool decrypts it to the archive the manifest hashed, and plain pg_restore restores it', async () => {
    const m = JSON.parse(readFileSync(join(store, 'backups', `${sealedId}.json`), 'utf8'));
    const out = join(keys, 'decrypted.dump');
    execFileSync('age', ['-d', '-i', identityFile, '-o', out, join(store, m.dumpKey)]);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(m.sha256);
    const to = await freshDb('by_hand');
    const u = new URL(to);
    execFileSync(`${PG_BIN}/pg_restore`, ['--no-owner', '--no-acl', '--dbname', to, out], {
      env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) },
    });
    expect(await count(to, TABLE)).toBe(3000);
    expect((await adminQuery(to, `SELECT note FROM ${TABLE} WHERE id = 7`)).rows[0].note).toBe(NEEDLE);
  });

  it('verify needs no key: it passes on the good object and fails on one flipped byte', async () => {
    const ok = await cli(['verify', sealedId, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ ok: true, verified: true });
    const path = join(store, 'backups', `${sealedId}.dump`);
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    const flipped = Buffer.from(bytes);
    flipped[at] = flipped[at]! ^ 0x01;
    writeFileSync(path, flipped);
    try {
      const bad = await cli(['verify', sealedId, '--json']);
      expect(bad.code).toBe(1);
      expect(JSON.parse(bad.out).error).toMatchObject({ code: 'checksum-mismatch' });
      expect(JSON.parse(bad.out).error.message).toMatch(/encrypted object’s SHA-256/);
    } finally {
      writeFileSync(path, bytes);
    }
    // Put back: verified again.
    const again = await cli(['verify', sealedId]);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`✓ ${sealedId}: checksum of the encrypted object (no key needed) ok`);
    expect((await cli(['verify', sealedId], withKey())).out).toContain(
      `✓ ${sealedId}: checksum and archive ok`,
    );
  });

  it('restore without the identity names DBWARDEN_AGE_IDENTITY; a wrong identity names the recipients; nothing is restored', async () => {
    const to = await freshDb('not_restored');
    const missing = await cli(['restore', sealedId, '--to', to]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/encrypted with age .*set DBWARDEN_AGE_IDENTITY/);
    expect(missing.err).toContain(shortRecipient(recipient));
    const wrong = await cli(['restore', sealedId, '--to', to], { DBWARDEN_AGE_IDENTITY: wrongIdentity });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('DBWARDEN_AGE_IDENTITY cannot decrypt backup');
    expect(wrong.err).toContain(shortRecipient(await identityToRecipient(wrongIdentity)));
    expect(wrong.err).toContain(`encrypted to ${shortRecipient(recipient)}`);
    const tables = await adminQuery(to, `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`);
    expect(Number(tables.rows[0].n)).toBe(0);
  });

  it('a mistyped identity: restore and drills refuse naming DBWARDEN_AGE_IDENTITY, never quoting it; the backup stays verified; serve refuses to start', async () => {
    // One character changed: still the shape of a key, but its checksum breaks (the library's error quotes the key).
    const at = 30;
    const typo = identity.slice(0, at) + (identity[at] === 'Q' ? 'P' : 'Q') + identity.slice(at + 1);
    const to = await freshDb('not_restored_typo');
    const r = await cli(['restore', sealedId, '--to', to], { DBWARDEN_AGE_IDENTITY: typo });
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `DBWARDEN_AGE_IDENTITY cannot decrypt backup ${sealedId} of app: 1 of 1 key(s) is not a valid age private key`,
    );
    const tables = await adminQuery(to, `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`);
    expect(Number(tables.rows[0].n)).toBe(0);

    const drill = await cli(['verify', sealedId, '--drill'], { DBWARDEN_AGE_IDENTITY: typo });
    expect(drill.code).toBe(1);
    expect(drill.out).toContain(`! ${sealedId}: checksum and archive not checked`);
    expect(drill.err).toContain('is not a valid age private key');
    const json = JSON.parse(
      (await cli(['verify', sealedId, '--drill', '--json'], { DBWARDEN_AGE_IDENTITY: typo })).out,
    );
    expect(json).toMatchObject({ ok: false, verified: true, error: { code: 'age-wrong-identity' } });

    const env = { LOG_LEVEL: 'warn', DATABASE_URL: db.url, DBWARDEN_STORE: store, ...QUIET_SCHEDULE };
    const refused = await serveInProcess({ ...env, DBWARDEN_AGE_IDENTITY: typo }).then(
      () => null,
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/DBWARDEN_AGE_IDENTITY: 1 of 1 key\(s\) is not a valid age private key/);
    expect(refused).not.toContain(typo.slice(16, 40));
  });

  it('restore with the identity (a key file) gives identical row counts; the plain one restores beside it without a key', async () => {
    const to = await freshDb('restored_sealed');
    const r = await cli(['restore', sealedId, '--to', to, '--json'], withKey());
    expect(r.code).toBe(0);
    const tables = JSON.parse(r.out).tables as { name: string; rows: number; atBackup: number }[];
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) expect(t.rows).toBe(t.atBackup);
    expect(await count(to, TABLE)).toBe(3000);

    const plainTo = await freshDb('restored_plain');
    const p = await cli(['restore', plainId, '--to', plainTo, '--json']);
    expect(p.code).toBe(0);
    expect(await count(plainTo, TABLE)).toBe(3000);
  });

  it('mixed history: both listed (encrypted marked), both verified without a key, both drilled with it', async () => {
    const list = JSON.parse((await cli(['backups', '--json'])).out) as { id: string; encrypted?: string }[];
    expect(list.map((m) => [m.id, m.encrypted ?? null])).toEqual([
      [sealedId, 'age'],
      [plainId, null],
    ]);
    const text = (await cli(['backups'])).out;
    expect(text).toMatch(new RegExp(`${sealedId} .*age`));
    expect(text).not.toMatch(new RegExp(`${plainId} .*age`));
    for (const id of [plainId, sealedId]) expect((await cli(['verify', id])).code).toBe(0);
    for (const id of [plainId, sealedId]) {
      const drill = await cli(['verify', id, '--drill', '--json'], withKey());
      expect(drill.code).toBe(0);
      expect(JSON.parse(drill.out).drill).toMatchObject({ ok: true, rows: expect.any(Number) });
    }
  });

  it('status, the digest, the backup confirmation and /db-backups say which backup is encrypted', async () => {
    const status = JSON.parse((await cli(['status', '--json'])).out);
    expect(status.lastBackup).toMatchObject({ id: sealedId, encrypted: 'age' });
    expect((await cli(['status'])).out).toMatch(/Last backup: .*encrypted \(age\)/);
    expect((await cli(['digest'])).out).toMatch(/verified · encrypted \(age\)/);
    const catalog = createCatalog(createFileStore(store));
    const { manifests, unreadable } = await catalog.scan();
    const list = renderText(
      backupListReport(
        { manifests, unreadable, identity: manifests[0]!.identity, location: store },
        { target: 'app', limit: 10, now: new Date(), timezone: 'UTC' },
      ),
      { color: false },
    );
    const ids = manifests.map((m) => m.id);
    const lineOf = (id: string) => list.split('\n').find((l) => l.includes(`\`${shortRef(id, ids)}\``))!;
    expect(lineOf(sealedId)).toContain('· encrypted (age) ·');
    expect(lineOf(plainId)).not.toContain('encrypted');
    const sealed = manifests.find((m) => m.id === sealedId)!;
    const done = renderText(backupDoneReport(sealed, store), { color: false });
    expect(done).toMatch(new RegExp(`Encrypted: +age, to ${shortRecipient(recipient)}`));
    const plain = manifests.find((m) => m.id === plainId)!;
    expect(renderText(backupDoneReport(plain, store), { color: false })).toMatch(/Encrypted: +no/);
  });

  it('verify --drill without the identity: the checksum passes, the drill is skipped (no age identity), the backup stays good', async () => {
    const r = await cli(['verify', sealedId, '--drill', '--json']);
    const out = JSON.parse(r.out);
    expect(out.verified).toBe(true);
    expect(out.error).toMatchObject({ code: 'drill-no-identity' });
    expect(out.error.message).toMatch(/skipped: no age identity/);
    const m = JSON.parse(readFileSync(join(store, 'backups', `${sealedId}.json`), 'utf8'));
    expect(m.verified).toBe(true);
  });

  it('a scheduled drill without the identity posts "skipped: no age identity" as a warning, and the job does not fail', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const services = await buildServices({
      env: { LOG_LEVEL: 'warn', DATABASE_URL: db.url, DBWARDEN_STORE: store },
      consoleOutput: out,
      logDestination: new PassThrough(),
    });
    try {
      await runScheduledDrill(services);
    } finally {
      await services.close();
    }
    expect(text).toMatch(/Restore drill skipped: app/);
    expect(text).toMatch(/skipped: no age identity/);
    expect(text).toMatch(/DBWARDEN_AGE_IDENTITY/);
    expect(text).not.toMatch(/critical|failed/i);
    const m = JSON.parse(readFileSync(join(store, 'backups', `${sealedId}.json`), 'utf8'));
    expect(m.verified).toBe(true);
  });

  it('stopped mid-dump: a cancellation, no manifest and no object, encrypted or plaintext, left in the store', async () => {
    const { dir, store: files } = tempStore();
    const { service, target } = backupServiceFor(db.url, files, { DBWARDEN_AGE_RECIPIENTS: recipient });
    const abort = new AbortController();
    const run = service.run({
      requestedBy: 'cli',
      signal: abort.signal,
      onProgress: (p) => {
        if (p.phase === 'dumping' && p.bytes > 0) abort.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'cancelled' });
    await target.close();
    const left = readdirSync(dir, { recursive: true }).map(String);
    expect(left.filter((f) => /\.(dump|json)|partial/.test(f))).toEqual([]);
  });

  it('DBWARDEN_REQUIRE_ENCRYPTION without recipients: backup refuses at start-up naming both variables, writes nothing', async () => {
    const before = readdirSync(join(store, 'backups')).length;
    const r = await cli(['backup'], { DBWARDEN_REQUIRE_ENCRYPTION: '1' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/DBWARDEN_AGE_RECIPIENTS: needed when DBWARDEN_REQUIRE_ENCRYPTION is set/);
    expect(readdirSync(join(store, 'backups')).length).toBe(before);
    // Restores are not refused: they write no backup.
    expect((await cli(['backups'], { DBWARDEN_REQUIRE_ENCRYPTION: '1' })).code).toBe(0);
  });

  it('serve refuses to start with DBWARDEN_REQUIRE_ENCRYPTION and no recipients, and starts with them', async () => {
    const env = { LOG_LEVEL: 'warn', DATABASE_URL: db.url, DBWARDEN_STORE: store, ...QUIET_SCHEDULE };
    await expect(serveInProcess({ ...env, DBWARDEN_REQUIRE_ENCRYPTION: '1' })).rejects.toThrow(
      /DBWARDEN_AGE_RECIPIENTS: needed when DBWARDEN_REQUIRE_ENCRYPTION is set/,
    );
    const bot = await serveInProcess({ ...env, DBWARDEN_REQUIRE_ENCRYPTION: '1', ...encrypted() });
    await bot.stop();
  });

  it('a pg_dump that fails mid-dump: a failed backup recorded, no object, encrypted or not, in the store', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'dbwarden-fake-pgdump-'));
    writeFileSync(
      join(bin, 'pg_dump'),
      '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 15.1"; exit 0; fi\nhead -c 300000 /dev/zero\necho "pg_dump: error: boom" >&2\nexit 1\n',
    );
    chmodSync(join(bin, 'pg_dump'), 0o755);
    const { dir, store: files } = tempStore();
    const { service, target } = backupServiceFor(db.url, files, {
      DBWARDEN_AGE_RECIPIENTS: recipient,
      PG_DUMP: join(bin, 'pg_dump'),
    });
    await expect(service.run({ requestedBy: 'cli' })).rejects.toMatchObject({ code: 'pg-dump-failed' });
    await target.close();
    const left = readdirSync(dir, { recursive: true }).map(String);
    expect(left.filter((f) => /\.dump|partial/.test(f))).toEqual([]);
    expect(left.filter((f) => f.endsWith('.json'))).toHaveLength(1);
  });

  it('a recipient with a typo is a start-up error naming DBWARDEN_AGE_RECIPIENTS, before any dump', async () => {
    const typo = `${recipient.slice(0, -1)}${recipient.endsWith('q') ? 'p' : 'q'}`;
    const before = readdirSync(join(store, 'backups')).length;
    const r = await cli(['backup'], { DBWARDEN_AGE_RECIPIENTS: typo });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/DBWARDEN_AGE_RECIPIENTS: 1 of 1 key\(s\) is not a valid age public key/);
    expect(readdirSync(join(store, 'backups')).length).toBe(before);
    const junk = await cli(['backups'], { DBWARDEN_AGE_RECIPIENTS: 'age1-not-a-key' });
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/DBWARDEN_AGE_RECIPIENTS: is neither an age public key/);
    expect(junk.err).not.toContain('age1-not-a-key');
  });

  it('keygen prints a key pair age reads, and says where each half belongs', async () => {
    const r = await cli(['keygen'].concat(['-o', join(keys, 'new.txt')]));
    expect(r.code).toBe(0);
    const file = readFileSync(join(keys, 'new.txt'), 'utf8');
    expect(file).toMatch(
      /^# created: \d{4}-\d\d-\d\dT[\d:]+Z\n# public key: age1[0-9a-z]{58}\nAGE-SECRET-KEY-1[0-9A-Z]{58}\n$/,
    );
    expect(statSync(join(keys, 'new.txt')).mode & 0o777).toBe(0o600);
    const pub = /# public key: (age1\S+)/.exec(file)![1]!;
    expect(execFileSync('age-keygen', ['-y', join(keys, 'new.txt')], { encoding: 'utf8' }).trim()).toBe(pub);
    expect(r.err).toContain(`DBWARDEN_AGE_RECIPIENTS=${pub}`);
    expect(r.err).toMatch(/OFF the server/);
    expect(r.err).toMatch(/DBWARDEN_AGE_IDENTITY/);
    expect(r.err).toMatch(/Lose it/);
    const again = await cli(['keygen', '-o', join(keys, 'new.txt')]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exists/);
  });

  it('retention treats both alike: three days on, keeping one daily removes the older plain backup, dump and manifest, and keeps the encrypted one', async () => {
    const files = createFileStore(store);
    const { manifests } = await createCatalog(files).scan();
    const later = new Date(Date.now() + 3 * 24 * 3_600_000);
    const plan = planRetention(manifests, { daily: 1, weekly: 0, monthly: 0 }, later);
    expect(plan.keep.map((m) => m.id)).toEqual([sealedId]);
    expect(plan.remove.map((m) => m.id)).toEqual([plainId]);
    const result = await applyRetention(files, plan);
    expect(result.removed).toEqual([plainId]);
    expect(readdirSync(join(store, 'backups')).filter((f) => f.startsWith(plainId))).toEqual([]);
    expect((await cli(['verify', sealedId])).code).toBe(0);
  });
});
