import { readFileSync } from 'node:fs';
import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { CRON_DEFAULTS, configTableMarkdown, envExample, loadConfig, VARS } from '../src/core/config.js';
import { ConfigError } from '../src/core/errors.js';
import { maskUrl, parsePostgresUrl } from '../src/core/target.js';

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

  it('the schedules’ defaults, accepted without asking node-cron, are ones node-cron accepts', () => {
    for (const expr of Object.values(CRON_DEFAULTS)) expect(cron.validate(expr), expr).toBe(true);
  });

  it('refuses at start-up what would fail later: crons out of range, unbounded durations, bad %-escapes', () => {
    let error: unknown;
    try {
      loadConfig({
        DATABASE_URL: 'postgres://app:%ZZtopsecretvalue@db.internal/railway',
        DBWARDEN_DRILL_URL: 'postgres://app:topsecretvalue@db.internal/scratch?port=99999',
        DBWARDEN_WATCH_CRON: '61 * * * *',
        DBWARDEN_BACKUP_CRON: '0 3 31 2 *',
        DBWARDEN_DIGEST_CRON: '0 9 * * * * *',
        DBWARDEN_DRILL_CRON: '*/0 * * * *',
        DBWARDEN_BACKUP_TIMEOUT: '30d',
        DBWARDEN_CONNECT_TIMEOUT: '0s',
        DBWARDEN_STATEMENT_TIMEOUT: '0',
        DBWARDEN_BACKUP_MAX_AGE: '90d',
        DBWARDEN_SHUTDOWN_GRACE: '2h',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(
      [
        'DATABASE_URL',
        'DBWARDEN_DRILL_URL',
        'DBWARDEN_WATCH_CRON',
        'DBWARDEN_BACKUP_CRON',
        'DBWARDEN_DIGEST_CRON',
        'DBWARDEN_DRILL_CRON',
        'DBWARDEN_BACKUP_TIMEOUT',
        'DBWARDEN_CONNECT_TIMEOUT',
        'DBWARDEN_STATEMENT_TIMEOUT',
        'DBWARDEN_BACKUP_MAX_AGE',
        'DBWARDEN_SHUTDOWN_GRACE',
      ].sort(),
    );
    const say = (name: string) => problems.find((p) => p.startsWith(`${name}:`));
    expect(say('DATABASE_URL')).toContain('malformed %-escape in its password');
    expect(say('DBWARDEN_DRILL_URL')).toContain('port from 1 to 65535');
    expect(say('DBWARDEN_WATCH_CRON')).toContain('61 is an invalid expression for minute');
    expect(say('DBWARDEN_BACKUP_TIMEOUT')).toContain('from 1m to 24h');
    expect(say('DBWARDEN_CONNECT_TIMEOUT')).toContain('from 1s to 5m');
    expect((error as Error).message).not.toContain('topsecretvalue');
    expect((error as Error).message).not.toContain('%ZZ');
  });

  it('takes the edges of each range, and 0s where it means something', () => {
    const c = loadConfig({
      DBWARDEN_BACKUP_TIMEOUT: '24h',
      DBWARDEN_CONNECT_TIMEOUT: '1s',
      DBWARDEN_STATEMENT_TIMEOUT: '1h',
      DBWARDEN_BACKUP_COOLDOWN: '0s',
      DBWARDEN_SHUTDOWN_GRACE: '0s',
      DBWARDEN_WATCH_CRON: '*/2 * * * * *',
      DBWARDEN_BACKUP_CRON: '0 3 * * mon-fri',
    });
    expect(c.backup.timeoutMs).toBe(86_400_000);
    expect(c.connectTimeoutMs).toBe(1000);
    expect(c.statementTimeoutMs).toBe(3_600_000);
    expect(c.backup.cooldownMs).toBe(0);
    expect(c.shutdownGraceMs).toBe(0);
    expect(c.schedule.backupCron).toBe('0 3 * * mon-fri');
  });

  it('takes libpq socket URLs with an empty host, and masks them without the password', () => {
    const url = 'postgres://app:pw-not-shown@/railway?host=/var/run/postgresql';
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    expect(parsePostgresUrl(url)).toEqual({
      host: '/var/run/postgresql',
      port: 5432,
      database: 'railway',
      user: 'app',
      password: 'pw-not-shown',
      sslmode: null,
    });
    expect(maskUrl(url)).toBe('postgres://app@/railway?host=/var/run/postgresql&port=5432');
    expect(maskUrl('postgresql:///railway?host=%2Ftmp%2Fpg&port=6543')).toBe(
      'postgres://postgres@/railway?host=/tmp/pg&port=6543',
    );
    expect(parsePostgresUrl('postgres://app@%2Fvar%2Frun%2Fpostgresql/railway').host).toBe(
      '/var/run/postgresql',
    );
    // No host at all is still refused: libpq would guess one, dbwarden does not.
    expect(() => loadConfig({ DATABASE_URL: 'postgres://app:pw@/railway' })).toThrow(/must name a host/);
  });

  it('keeps the README table and .env.example in step with the schema (run `npm run docs`)', () => {
    expect(readFileSync('README.md', 'utf8')).toContain(configTableMarkdown());
    expect(readFileSync('.env.example', 'utf8')).toBe(envExample());
    for (const name of Object.keys(VARS)) expect(envExample()).toContain(`# ${name}=`);
  });
});
