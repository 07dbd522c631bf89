import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DJANGO_CLIENT_PATH, djangoClient } from '../src/deploy/django-client.js';
import { lintSql } from '../src/deploy/migration-lint.js';
import { pendingFromDjango, pendingFromFiles } from '../src/deploy/pending-sql.js';
import { useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();
// Debian's python3-django (installed by .ci/run); the system python, as pyenv shims may lack Django.
const PYTHON = process.env.DBWARDEN_TEST_PYTHON ?? '/usr/bin/python3';
const hasDjango = spawnSync(PYTHON, ['-c', 'import django, psycopg2'], { stdio: 'ignore' }).status === 0;
if (!hasDjango)
  console.warn(
    `pending-sql: Django tests left out: ${PYTHON} cannot import django and psycopg2 (apt-get install python3-django python3-psycopg2)`,
  );

const cwd = 'test/fixtures/djangoapp';
const django = (env: Record<string, string> = {}) =>
  pendingFromDjango({
    python: PYTHON,
    cwd,
    env: { PATH: process.env.PATH, DATABASE_URL: db.url, ...env },
    timeoutMs: 60_000,
    redact: (s) => s.split(db.password).join('***'),
  });

describe('pending migration SQL', () => {
  it('reads plain SQL files and names a missing one clearly', async () => {
    const got = await pendingFromFiles(['test/fixtures/migrations/prisma_migration.sql']);
    expect(got[0]!.sql).toContain('DROP TABLE "Session"');
    await expect(pendingFromFiles(['no/such/migration.sql'])).rejects.toThrow(
      'Cannot read the SQL file no/such/migration.sql: no such file',
    );
  });

  it.runIf(hasDjango)(
    'asks a real Django project which migrations are unapplied and gets their SQL',
    async () => {
      const manage = (...args: string[]) =>
        spawnSync(PYTHON, ['manage.py', ...args], {
          cwd,
          env: { PATH: process.env.PATH, DATABASE_URL: db.url },
          encoding: 'utf8',
        });
      expect(manage('migrate', 'billing', '0001').status).toBe(0);
      const pending = await django();
      expect(pending.map((p) => p.source)).toEqual([
        'billing.0002_customer_email',
        'billing.0003_remove_customer_phone',
      ]);
      const findings = (await Promise.all(pending.map((p) => lintSql(p.sql, { source: p.source })))).flat();
      expect(findings.map((f) => [f.source, f.rule])).toEqual([
        ['billing.0003_remove_customer_phone', 'drop-column'],
        ['billing.0003_remove_customer_phone', 'drop-column'],
      ]);
      expect(manage('migrate').status).toBe(0);
      expect(await django()).toEqual([]);
    },
  );

  it.runIf(hasDjango)('reports a failing manage.py without the database password', async () => {
    const err = await django({ DATABASE_URL: db.url.replace(/\/app$/, '/nope') }).catch((e) => e);
    expect(err.message).toMatch(/Asking Django for unapplied migrations failed \(exit 1\): OperationalError/);
    expect(err.message).not.toContain(db.password);
  });

  it('without DBWARDEN_PYTHON, prefers python3 when python is there too', async () => {
    // Two stand-ins for the user's interpreters on PATH, each recording that it ran and answering "nothing pending".
    const bin = mkdtempSync(join(tmpdir(), 'dbwarden-pythons-'));
    const ran = join(bin, 'ran.log');
    for (const name of ['python3', 'python']) {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${ran}"\necho '[]'\n`);
      chmodSync(join(bin, name), 0o755);
    }
    try {
      const got = await pendingFromDjango({
        python: null,
        cwd,
        env: { PATH: bin },
        timeoutMs: 5000,
        redact: (s) => s,
      });
      expect(got).toEqual([]);
      expect(readFileSync(ran, 'utf8')).toBe('python3 - --pending-json\n');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it.runIf(hasDjango)('without DBWARDEN_PYTHON, runs python3, else python', async () => {
    // A PATH with only `python` on it: python3 is missing, so the second choice must be taken.
    const bin = mkdtempSync(join(tmpdir(), 'dbwarden-python-'));
    symlinkSync(PYTHON, join(bin, 'python'));
    try {
      const got = await pendingFromDjango({
        python: null,
        cwd,
        env: { PATH: bin, DATABASE_URL: db.url },
        timeoutMs: 60_000,
        redact: (s) => s,
      });
      expect(Array.isArray(got)).toBe(true);
      const none = await pendingFromDjango({
        python: null,
        cwd,
        env: { PATH: join(bin, 'empty') },
        timeoutMs: 5000,
        redact: (s) => s,
      }).catch((e) => e);
      expect(none.message).toContain('Cannot run "python"');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('embeds exactly the Django client of contrib/ (run `npm run docs` after editing it)', () => {
    expect(djangoClient()).toBe(readFileSync(DJANGO_CLIENT_PATH, 'utf8'));
  });

  it('says how to fix a Python command that does not exist', async () => {
    const err = await pendingFromDjango({
      python: 'no-such-python3',
      cwd,
      env: {},
      timeoutMs: 5000,
      redact: (s) => s,
    }).catch((e) => e);
    expect(err.message).toContain('Cannot run "no-such-python3"');
    expect(err.hint).toContain('DBWARDEN_PYTHON');
  });
});
