import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backupProgressReport } from '../src/backup/backup-report.js';
import { backupNowCommand } from '../src/chat/commands/backup-now.js';
import type { CommandReply } from '../src/chat/commands.js';
import { renderText } from '../src/chat/console/render-text.js';
import type { Report } from '../src/core/report.js';
import { seedDemo } from '../src/demo/seed.js';
import { backupServiceFor, tempStore } from './helpers/backup.js';
import { useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();

/** A reply that keeps every report it was given, as a chat message's edit history. */
function recorder(): CommandReply & { reports: Report[]; last(): Report } {
  const reports: Report[] = [];
  return {
    reports,
    async update(r) {
      reports.push(r);
    },
    last: () => reports.at(-1)!,
  };
}

function setup(env: Record<string, string> = {}, extra: Parameters<typeof backupServiceFor>[3] = {}) {
  let now = Date.parse('2026-11-25T10:00:00Z');
  const clock = () => new Date(now);
  const s = backupServiceFor(db.url, tempStore().store, env, { ...extra, clock });
  const command = backupNowCommand({
    backups: s.service,
    config: s.config,
    clock,
    target: s.target,
    location: '/backups',
  });
  return { ...s, command, advance: (ms: number) => (now += ms) };
}

describe('/backup-now', () => {
  it('posts progress, then the confirmation with id, size, checksum prefix, duration and ✓', async () => {
    await seedDemo(db.url);
    const { command, target, service } = setup();
    const reply = recorder();
    await command.run('', { id: 'U1', name: 'alice', platform: 'slack' }, reply);
    expect(reply.reports[0]!.progress).toBeDefined();
    expect(reply.reports[0]!.fields).toContainEqual({ label: 'Started by', value: 'alice (slack:U1)' });
    const done = reply.last();
    // The newest good backup of this database: the service asks the database which one it is.
    const m = (await service.latestGood())!;
    await target.close();
    expect(m.requestedBy).toBe('slack:U1');
    expect(done.title).toBe('Backup of app complete');
    expect(done.level).toBe('ok');
    expect(done.fields).toEqual(
      expect.arrayContaining([
        { label: 'Backup', value: m.id },
        { label: 'SHA-256', value: `${m.sha256.slice(0, 12)}…` },
        { label: 'Verified', value: '✓ checksum and archive list' },
      ]),
    );
    expect(JSON.stringify(reply.reports)).not.toContain(db.password);
  });

  it('a failed backup ends in an error report with the reason and a hint', async () => {
    const { command, target } = setup({ PG_DUMP: '/nonexistent/pg_dump' });
    const reply = recorder();
    await command.run('', { id: 'U1', platform: 'slack' }, reply);
    await target.close();
    const text = renderText(reply.last());
    expect(reply.last()).toMatchObject({ title: 'Backup of app failed', level: 'critical' });
    expect(text).toContain('pg_dump not found at /nonexistent/pg_dump');
    expect(text).toMatch(/→ Install postgresql-client/);
  });

  it('progress shows bytes, elapsed and an ETA from the previous backup’s size', () => {
    const r = backupProgressReport('app', {
      phase: 'dumping',
      bytes: 25 * 1024 * 1024,
      elapsedMs: 10_000,
      expectedBytes: 100 * 1024 * 1024,
    });
    expect(r.progress).toEqual({
      fraction: 0.25,
      label: 'Dumping · 25.0 MB · 10.0 s elapsed · about 30.0 s left',
    });
    expect(renderText(r)).toContain('▓▓▓▓▓░░░░░░░░░░░░░░░ 25%');
    const first = backupProgressReport('app', {
      phase: 'dumping',
      bytes: 1024,
      elapsedMs: 500,
      expectedBytes: null,
    });
    expect(first.progress).toEqual({ fraction: null, label: 'Dumping · 1.00 kB · 500 ms elapsed' });
  });

  it('refuses arguments with the usage', async () => {
    const { command, target } = setup();
    const reply = recorder();
    await command.run('--force', { id: 'U1' }, reply);
    await target.close();
    expect(reply.reports).toHaveLength(1);
    expect(renderText(reply.last())).toContain('/backup-now takes no arguments, got "--force"');
    expect(renderText(reply.last())).toContain('Usage: /backup-now');
    expect(reply.last().level).toBe('warn');
  });

  it('only listed users or roles may run it when DBWARDEN_BACKUP_USERS is set, and they have no cooldown', async () => {
    const { command, target, service } = setup({ DBWARDEN_BACKUP_USERS: 'U_ADMIN, 998877665544' });
    const denied = recorder();
    await command.run('', { id: 'U_OTHER', name: 'mallory', platform: 'slack' }, denied);
    expect(denied.last().title).toBe('Not allowed');
    expect(renderText(denied.last())).toContain('You may not start backups of app');
    expect(renderText(denied.last())).toContain('your user ID (U_OTHER)');
    // The same refusal is known up front, so the adapters answer it only to the asker.
    expect(command.check!('', { id: 'U_OTHER', name: 'mallory', platform: 'slack' })).toEqual(denied.last());
    expect(command.check!('', { id: 'U_OTHER', name: 'mallory', platform: 'slack' })?.level).toBe('warn');
    expect(await service.list()).toEqual([]);

    const byRole = recorder();
    await command.run('', { id: '111', name: 'bob', platform: 'discord', roles: ['998877665544'] }, byRole);
    expect(byRole.last().title).toBe('Backup of app complete');
    const again = recorder();
    await command.run('', { id: 'U_ADMIN', platform: 'slack' }, again);
    await target.close();
    expect(again.last().title).toBe('Backup of app complete');
    expect((await service.list()).length).toBe(2);
  });

  it('applies the cooldown to everyone when no list is set', async () => {
    const { command, target, advance } = setup({ DBWARDEN_BACKUP_COOLDOWN: '10m' });
    const first = recorder();
    await command.run('', { id: 'U1', platform: 'slack' }, first);
    expect(first.last().title).toBe('Backup of app complete');
    advance(4 * 60_000);
    const second = recorder();
    await command.run('', { id: 'U2', platform: 'slack' }, second);
    expect(second.last().title).toBe('Please wait');
    expect(renderText(second.last())).toMatch(/next one can start in 6 min 00 s/);
    advance(6 * 60_000);
    const third = recorder();
    await command.run('', { id: 'U2', platform: 'slack' }, third);
    await target.close();
    expect(third.last().title).toBe('Backup of app complete');
  });

  it('a second request while one runs is told who started the first and when', async () => {
    let pid = 0;
    const { command, target } = setup({}, { onDumpSpawn: (p) => (pid = p) });
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE auth_user IN ACCESS EXCLUSIVE MODE');
    const first = recorder();
    const running = command.run('', { id: 'U1', name: 'alice', platform: 'slack' }, first);
    while (pid === 0) await new Promise((r) => setTimeout(r, 20));
    const second = recorder();
    await command.run('', { id: '42', name: 'bob', platform: 'discord' }, second);
    await locker.query('ROLLBACK');
    await locker.end();
    await running;
    await target.close();
    expect(second.last().title).toBe('Backup already running');
    expect(renderText(second.last())).toContain(
      'already running: started by alice (slack:U1) at 2026-11-25 10:00 UTC (just now)',
    );
    expect(first.last().title).toBe('Backup of app complete');
  });
});
