import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';
import { serveInProcess } from './helpers/serve.js';

const db = useTestCluster();

/** `dbwarden serve --console` in this process: type lines, read what the console chat answers. */
async function consoleSession(lines: string): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (d) => (text += d));
  const served = await serveInProcess(
    { DATABASE_URL: db.url, DBWARDEN_ENV: 'demo', LOG_LEVEL: 'silent' },
    { chat: { input, output } },
  );
  try {
    input.write(lines);
    // /quit closes the chat, which is serve's cue to stop.
    expect(await served.stopRequested).toBe('console closed');
  } finally {
    await served.stop();
  }
  return text;
}

describe('console chat', () => {
  it('answers /db-status, unknown commands and bad arguments, then quits', async () => {
    await seedDemo(db.url);
    const text = await consoleSession('/db-status\n/db-status everything\n/drop-db\n/quit\n');
    expect(text).toContain('/db-status [me]');
    expect(text).toMatch(/demo · app/);
    expect(text).toContain('auth_user: 40 rows');
    expect(text).toContain('/db-status takes no argument but "me"');
    // A typo is a warning with the usage, never the critical siren.
    expect(text).toContain('⚠️ Unknown argument');
    expect(text).toContain('→ Usage: /db-status [me]');
    expect(text).toContain('Unknown command /drop-db');
    expect(text).not.toContain(db.password);
  });

  it('echoes arguments and unknown commands without terminal escapes', async () => {
    const text = await consoleSession(
      '/db-status \u001b]0;owned\u0007\u001b[31mred\n/backup-now \u001b[2J\n/\u001b[2Jwipe\n/quit\n',
    );
    expect(text).toContain('/db-status takes no argument but "me", got "?]0;owned??[31mred"');
    expect(text).toContain('/backup-now takes no arguments, got "?[2J"');
    expect(text).toContain('Unknown command /?[2Jwipe');
    expect(text).not.toContain('\u001b]0;');
    expect(text).not.toContain('\u001b[2J');
    expect(text).not.toContain('\u001b[31mred');
  });

  it('takes a backup with /backup-now, as the demo does', async () => {
    await seedDemo(db.url);
    const text = await consoleSession('/backup-now\n/quit\n');
    expect(text).toContain('/backup-now');
    expect(text).toContain('Backup of app complete');
    expect(text).toContain('console');
    expect(text).not.toContain(db.password);
  });
});
