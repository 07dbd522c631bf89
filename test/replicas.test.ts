import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import type { BackupManifest } from '../src/store/manifest.js';
import { useTestCluster } from './helpers/cluster.js';
import { type FakeSlack, type RecordedCall, startFakeSlack } from './helpers/fake-slack.js';
import { eventually, freePort } from './helpers/net.js';
import { type SpawnedCli, spawnCli, untilHealthy } from './helpers/spawn-cli.js';

// Two `dbwarden serve` processes against one database and one store, as two replicas of a PaaS service run.
// The schedules tick every few seconds so a "day" of ticks passes in the test.
const db = useTestCluster();
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-replicas-'));
let fake: FakeSlack;
beforeAll(async () => {
  fake = await startFakeSlack();
  await seedDemo(db.url);
});
afterAll(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

const BACKUP_EVERY_S = 8;

type Replica = SpawnedCli & { port: number };

async function replica(name: string): Promise<Replica> {
  const port = await freePort();
  const p = spawnCli(['serve'], {
    DATABASE_URL: db.url,
    DBWARDEN_ENV: 'staging',
    DBWARDEN_STORE: dir,
    PORT: String(port),
    SLACK_BOT_TOKEN: fake.botToken,
    SLACK_SIGNING_SECRET: fake.signingSecret,
    SLACK_API_URL: fake.apiUrl,
    SLACK_CHANNEL: 'C0TEAM',
    DBWARDEN_BACKUP_CRON: `*/${BACKUP_EVERY_S} * * * * *`,
    DBWARDEN_DIGEST_CRON: `4-59/${BACKUP_EVERY_S} * * * * *`,
    DBWARDEN_WATCH_CRON: '*/3 * * * * *',
    LOG_LEVEL: 'info',
  });
  await untilHealthy(p, port, name);
  return { ...p, port };
}

const textOf = (c: RecordedCall) => JSON.stringify(c.body);
const manifests = (): BackupManifest[] =>
  readdirSync(join(dir, 'backups'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, 'backups', f), 'utf8')) as BackupManifest);
/** The schedule tick a time falls in: two things in one tick would be a duplicate. */
const tickOf = (ms: number) => Math.floor(ms / (BACKUP_EVERY_S * 1000));

describe('two replicas', () => {
  it('run each scheduled backup and digest once, and both answer commands', async () => {
    const replicas = [await replica('replica-a'), await replica('replica-b')];
    try {
      const digests = () =>
        fake
          .api('chat.postMessage')
          .filter((c) => c.body.channel === 'C0TEAM' && textOf(c).includes('Daily digest'));
      // Wait for three ticks of each job after both are up.
      await eventually('three scheduled digests', () => (digests().length >= 3 ? true : undefined), 90_000);
      await eventually(
        'three scheduled backups',
        () => (manifests().filter((m) => m.requestedBy === 'schedule').length >= 3 ? true : undefined),
        90_000,
      );

      // Commands: each replica answers the request it receives.
      for (const [i, r] of replicas.entries()) {
        const channelId = `C0ASK${i}`;
        const { body } = fake.slashForm({ command: '/db-status', channelId });
        const res = await fetch(`http://127.0.0.1:${r.port}/slack/events`, {
          method: 'POST',
          body,
          headers: fake.sign(body),
        });
        expect(res.status).toBe(200);
        const answer = await fake.waitFor(
          (c) => c.method === 'chat.postMessage' && c.body.channel === channelId,
        );
        expect(textOf(answer)).toContain('billing_customer');
      }

      for (const r of replicas) r.child.kill('SIGTERM');
      expect((await Promise.all(replicas.map((r) => r.exited))).map((e) => e.code)).toEqual([0, 0]);

      // Exactly one scheduled backup per backup tick (the start-up catch-up counts as one more tick).
      const scheduled = manifests().filter((m) => m.requestedBy === 'schedule');
      expect(scheduled.every((m) => m.status === 'complete' && m.verified)).toBe(true);
      const backupTicks = scheduled.map((m) => tickOf(Date.parse(m.startedAt)));
      const catchUps = backupTicks.length - new Set(backupTicks).size;
      expect(catchUps).toBeLessThanOrEqual(1);
      const runMarkers = readdirSync(join(dir, 'state', 'runs', 'backup'));
      expect(scheduled.length).toBe(runMarkers.length);

      // Exactly one digest per digest tick, whichever replica posted it.
      const digestTicks = digests().map((c) => tickOf(c.at));
      expect(new Set(digestTicks).size).toBe(digestTicks.length);
      expect(readdirSync(join(dir, 'state', 'runs', 'digest')).length).toBe(digestTicks.length);

      for (const r of replicas) expect(r.log()).not.toContain(db.password);
    } finally {
      for (const r of replicas) r.kill();
    }
  }, 240_000);
});
