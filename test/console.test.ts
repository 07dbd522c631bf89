import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dbStatusCommand } from '../src/chat/commands/db-status.js';
import { runConsoleChat } from '../src/chat/console.js';
import { probeStatus } from '../src/core/status.js';
import { statusReport } from '../src/core/status-report.js';
import { createTarget } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import { useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();

describe('console chat', () => {
  it('answers /db-status, unknown commands and bad arguments, then quits', async () => {
    await seedDemo(db.url);
    const target = createTarget(db.url, {
      environment: 'demo',
      connectTimeoutMs: 2000,
      statementTimeoutMs: 5000,
    });
    const command = dbStatusCommand({
      statusReport: async () => statusReport(await probeStatus({ target, watchTables: null })),
    });
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d) => (text += d));
    const done = runConsoleChat({ commands: [command], input, output, color: false });
    input.write('/db-status\n/db-status everything\n/drop-db\n/quit\n');
    await done;
    await target.close();
    expect(text).toContain('/db-status [me]');
    expect(text).toMatch(/demo · app/);
    expect(text).toContain('auth_user: 40 rows');
    expect(text).toContain('/db-status takes no argument but "me"');
    expect(text).toContain('Unknown command /drop-db');
    expect(text).not.toContain(db.password);
  });
});
