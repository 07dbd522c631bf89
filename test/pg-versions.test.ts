import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { findTool } from '../src/backup/pg-tools.js';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { findPgServer, usePgServerCluster } from './helpers/pg-server.js';

// Users run PostgreSQL 13 to 18: the machine's own server (15 here) runs every other test and 13 has its own file
// (status-pg13.test.ts); these run the CLI against the other majors. A pg_dump older than the server cannot back it
// up, so where the machine's is older (15 here, against 16–18) the refusal is what is tested.
const pgDump = await findTool('pg_dump', null);

for (const major of [14, 16, 17, 18]) {
  const found = await findPgServer(major);
  if ('missing' in found) console.log(`skipping the PostgreSQL ${major} tests: ${found.missing}`);

  describe.skipIf('missing' in found)(`the CLI against a real PostgreSQL ${major} server`, () => {
    const pg = usePgServerCluster(found);
    const env = () => ({
      DATABASE_URL: pg.current!.url,
      DBWARDEN_STORE: mkdtempSync(join(tmpdir(), `dbwarden-pg${major}-store-`)),
      LOG_LEVEL: 'warn',
    });

    it('status reads it: version, tables, exact counts, identity, migrations', async () => {
      await seedDemo(pg.current!.url);
      const r = await runCliCaptured(['status', '--json'], env());
      expect(r.code).toBe(0);
      const s = JSON.parse(r.out);
      expect(s.reachable).toBe(true);
      expect(Math.floor(s.serverVersionNum / 10000)).toBe(major);
      expect(s.tableCount).toBe(5);
      expect(s.tables.find((t: { name: string }) => t.name === 'auth_user')).toMatchObject({
        rows: 40,
        exact: true,
      });
      expect(s.identity).toMatchObject({
        databaseName: 'app',
        systemIdentifier: expect.stringMatching(/^\d+$/),
      });
      expect(s.migrations).toMatchObject({ framework: 'django', applied: 6 });
    });

    it.runIf(pgDump.major >= major)(
      'an encrypted backup, verified without the key, drilled with it: the rows come back',
      async () => {
        const identity = await generateX25519Identity();
        const e = {
          ...env(),
          DBWARDEN_AGE_RECIPIENTS: await identityToRecipient(identity),
        };
        const b = await runCliCaptured(['backup', '--json'], e);
        expect(b.code, b.err).toBe(0);
        expect(JSON.parse(b.out)).toMatchObject({ verified: true, encrypted: 'age' });
        const v = await runCliCaptured(['verify', 'latest', '--json'], e);
        expect(JSON.parse(v.out)).toMatchObject({ ok: true, verified: true });
        const d = await runCliCaptured(['verify', 'latest', '--drill', '--json'], {
          ...e,
          DBWARDEN_AGE_IDENTITY: identity,
        });
        expect(d.code, d.err).toBe(0);
        expect(JSON.parse(d.out).drill).toMatchObject({ ok: true, tables: 5, rows: 20_896 });
      },
    );

    it.runIf(pgDump.major < major)(
      `a backup with this machine's older pg_dump is refused, and status says why and what fixes it`,
      async () => {
        const e = env();
        const b = await runCliCaptured(['backup', '--json'], e);
        expect(b.code).toBe(1);
        const { error } = JSON.parse(b.out);
        expect(error.message).toMatch(
          new RegExp(
            `^pg_dump ${pgDump.version} \\(.*\\) cannot back up PostgreSQL ${major}\\.\\d+: it must be version ${major} or newer$`,
          ),
        );
        expect(error.hint).toContain(`postgresql-client-${major}`);
        const s = JSON.parse((await runCliCaptured(['status', '--json'], e)).out);
        expect(s.warnings[0]).toMatchObject({
          code: 'backup-failed',
          level: 'critical',
          message: expect.stringContaining(error.message),
          hint: error.hint,
        });
      },
    );
  });
}
