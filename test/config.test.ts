import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configTableMarkdown, envExample, loadConfig, VARS } from '../src/core/config.js';
import { ConfigError } from '../src/core/errors.js';
import { maskUrl } from '../src/core/target.js';

describe('config', () => {
  it('runs in demo mode with defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      demo: true,
      databaseUrl: null,
      environment: 'production',
      store: './.dbwarden',
      timezone: 'UTC',
    });
    expect(c.backup.keep).toEqual({ daily: 7, weekly: 4, monthly: 6 });
    expect(c.slack).toBeNull();
    expect(c.discord).toBeNull();
  });

  it('reads durations, lists and the time zone', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgresql://app:pw@db.internal:6543/railway?sslmode=require',
      DBWARDEN_WATCH_TABLES: 'auth_user, billing.invoice ,',
      DBWARDEN_BACKUP_MAX_AGE: '30h',
      DBWARDEN_CONNECT_TIMEOUT: '1500ms',
      TZ: 'Europe/Berlin',
    });
    expect(c.watchTables).toEqual(['auth_user', 'billing.invoice']);
    expect(c.guard.backupMaxAgeMs).toBe(30 * 3_600_000);
    expect(c.connectTimeoutMs).toBe(1500);
    expect(c.timezone).toBe('Europe/Berlin');
  });

  it('names every bad variable at once and never echoes a value', () => {
    let error: unknown;
    try {
      loadConfig({
        DATABASE_URL: 'https://x:topsecretvalue@h/db',
        DISCORD_TOKEN: 'short',
        PORT: '70000',
        DBWARDEN_ROWS_DROP_PCT: '0',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining([
        'DATABASE_URL',
        'DISCORD_TOKEN',
        'PORT',
        'DBWARDEN_ROWS_DROP_PCT',
        'DISCORD_APPLICATION_ID',
      ]),
    );
    expect(e.message).not.toContain('topsecretvalue');
    expect(e.message).not.toContain('short');
  });

  it('masks connection strings to user@host:port/db', () => {
    expect(maskUrl('postgres://app:p%40ss@db.internal:5432/railway?sslmode=require')).toBe(
      'postgres://app@db.internal:5432/railway',
    );
    expect(maskUrl('postgresql://u:pw@[::1]/x')).toBe('postgres://u@[::1]:5432/x');
  });

  it('keeps the README table and .env.example in step with the schema (run `npm run docs`)', () => {
    expect(readFileSync('README.md', 'utf8')).toContain(configTableMarkdown());
    expect(readFileSync('.env.example', 'utf8')).toBe(envExample());
    for (const name of Object.keys(VARS)) expect(envExample()).toContain(`# ${name}=`);
  });
});
