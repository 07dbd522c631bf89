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

  it('takes a backup with /backup-now, as the demo does', async () => {
    await seedDemo(db.url);
    const text = await consoleSession('/backup-now\n/quit\n');
    expect(text).toContain('/backup-now');
    expect(text).toContain('Backup of app complete');
    expect(text).toContain('console');
    expect(text).not.toContain(db.password);
  });
});
