import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupListReport, shortRef } from '../src/backup/backup-list-report.js';
import { renderText } from '../src/chat/console/render-text.js';
import { DISCORD_LIMITS, embedLength, renderDiscord } from '../src/chat/discord/render-discord.js';
import { renderSlack, SLACK_LIMITS } from '../src/chat/slack/render-slack.js';
import type { Report } from '../src/core/report.js';
import { createCatalog } from '../src/store/catalog.js';
import { createFileStore } from '../src/store/file-store.js';
import type { BackupManifest } from '../src/store/manifest.js';
import { useTestCluster } from './helpers/cluster.js';
import { APP, useDiscordBot } from './helpers/discord-bot.js';
import { type FakeSlack, startFakeSlack } from './helpers/fake-slack.js';
import { manifest, writeManifests } from './helpers/fixtures.js';
import { startBot } from './helpers/slack-bot.js';

const now = new Date('2026-11-26T12:00:00Z');
const identity = manifest({ id: '20261101T000000.000Z-000000' }).identity;

/** `n` backups an hour apart, newest last: every fifth failed, every seventh drilled, one of another database. */
function backups(n: number): BackupManifest[] {
  return Array.from({ length: n }, (_, i) => {
    const at = new Date(now.getTime() - (n - i) * 3_600_000);
    const id = `${at.toISOString().replace(/[-:]/g, '')}-${(0xa00000 + i * 7919).toString(16).slice(-6)}`;
    return manifest({
      id,
      startedAt: at.toISOString(),
      ...(i % 5 === 4
        ? {
            status: 'failed',
            verified: false,
            error: { code: 'dump-failed', message: `pg_dump exited 1 (${'x'.repeat(300)})` },
          }
        : {}),
      ...(i % 7 === 6
        ? { drill: { at: at.toISOString(), ok: true, tables: 2, rows: 1040, durationMs: 900 } }
        : {}),
      ...(i === 3 ? { identity: { ...identity!, systemIdentifier: '1' } } : {}),
      requestedBy: i % 3 === 0 ? 'schedule' : `slack:U0${'A'.repeat(i % 40)}`,
    });
  });
}

const list = (ms: BackupManifest[]) => ({
  manifests: [...ms].reverse(),
  unreadable: [],
  identity,
  location: '/srv/dbwarden/store',
});

function withinSlack(report: Report) {
  const msg = renderSlack(report, { environment: 'production' });
  expect(msg.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  for (const b of msg.blocks as { text?: { text: string }; fields?: { text: string }[] }[]) {
    if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.text);
    for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
  }
  return JSON.stringify(msg);
}

function withinDiscord(report: Report) {
  const embeds = renderDiscord(report, { environment: 'production', now });
  expect(embeds.length).toBeLessThanOrEqual(DISCORD_LIMITS.embeds);
  expect(embedLength(embeds)).toBeLessThanOrEqual(DISCORD_LIMITS.total);
  for (const e of embeds)
    expect((e.description ?? '').length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
  return JSON.stringify(embeds);
}

describe('the /db-backups report', () => {
  it('with no backups says so and what to do, within every limit', () => {
    const r = backupListReport(list([]), { target: 'app', limit: 10, now, timezone: 'UTC' });
    expect(r.summary).toBe('No backups of app yet.');
    for (const text of [withinSlack(r), withinDiscord(r), renderText(r)]) {
      expect(text).toContain('/backup-now');
      expect(text).not.toContain('/srv/dbwarden');
    }
  });

  it('with one backup shows its short id, state, size, age, drill and who started it', () => {
    const [m] = backups(1);
    const r = backupListReport(list([m!]), { target: 'app', limit: 10, now, timezone: 'UTC' });
    const line = r.sections[0]!.lines[0]!;
    const ref = m!.id.slice(-6, -2);
    expect(line).toBe(`\`${ref}\` ✓ verified · 977 kB · 1 h ago · never drilled · by the schedule`);
    expect(r.fields).toEqual([
      { label: 'Kept', value: '1 (1 good) · 977 kB' },
      { label: 'Newest good', value: `${ref} · 2026-11-26 11:00 UTC` },
    ]);
    withinSlack(r);
    withinDiscord(r);
  });

  it('with 200 backups shows the newest 10 (or 100), counts the rest, and stays within every limit', () => {
    const all = backups(200);
    const r = backupListReport(list(all), { target: 'app', limit: 10, now, timezone: 'UTC' });
    expect(r.sections[0]!.title).toBe('Newest 10 of 200');
    expect(r.sections[0]!.lines).toHaveLength(10);
    expect(r.fields[0]!.value).toMatch(/^200 \(159 good, 40 failed\)/);
    expect(r.sections[0]!.lines.join('\n')).toContain('✗ FAILED');
    for (const limit of [10, 100]) {
      const big = backupListReport(list(all), { target: 'app', limit, now, timezone: 'UTC' });
      expect(withinSlack(big)).toContain('/backup-verify latest');
      expect(withinDiscord(big)).toContain('/backup-verify latest');
    }
    const hundred = backupListReport(list(all), { target: 'app', limit: 100, now, timezone: 'UTC' });
    expect(withinSlack(hundred)).toMatch(/… and \d+ more/);
  });

  it('gives every backup a short id the catalog resolves back to it alone', async () => {
    const store = createFileStore(mkdtempSync(join(tmpdir(), 'dbwarden-refs-')));
    const all = backups(200);
    // Two backups whose suffixes share their first five characters: each needs all six.
    all.push(
      manifest({ id: '20261126T110000.000Z-abcde1' }),
      manifest({ id: '20261126T110001.000Z-abcde2' }),
    );
    await writeManifests(store, all);
    const catalog = createCatalog(store);
    const ids = all.map((m) => m.id);
    for (const id of ids) expect(shortRef(id, ids).length).toBeLessThanOrEqual(6);
    // The catalog reads the whole store per resolve: a sample, and the two that collide.
    for (const id of ids.filter((_, i) => i % 20 === 0 || i >= 200))
      expect(await catalog.resolve(shortRef(id, ids), async () => identity)).toBe(id);
    expect(shortRef('20261126T110000.000Z-abcde1', ids)).toBe('abcde1');
  });
});

describe('/db-backups over the wire', () => {
  const db = useTestCluster();
  const discord = useDiscordBot(db);
  const storeDir = mkdtempSync(join(tmpdir(), 'dbwarden-db-backups-'));
  let fake: FakeSlack;
  beforeAll(async () => {
    fake = await startFakeSlack();
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('answers with 0, 1 and 200 backups in Slack and Discord within their limits', async () => {
    const slack = await startBot(fake, {
      mode: 'socket',
      databaseUrl: db.url,
      env: { DBWARDEN_STORE: storeDir },
    });
    const { services } = await discord.start({ env: { DBWARDEN_STORE: storeDir } });
    const id = (await services.whoseBackups())!;
    try {
      const all = backups(200).map((m) => ({ ...m, identity: m.identity === identity ? id : m.identity }));
      for (const [n, wanted] of [
        [0, 'No backups of app yet.'],
        [1, '1 backup of app kept'],
        [200, '200 backups of app kept'],
      ] as const) {
        if (n > 0) await writeManifests(services.store, n === 1 ? all.slice(-1) : all);
        const channelId = `C0LIST${n}`;
        fake.sendSlashCommand({ command: '/db-backups', channelId, text: n === 200 ? '100' : '' });
        const posted = await fake.waitFor((c) => c.kind === 'api' && c.body.channel === channelId, 60_000);
        expect(String(posted.body.text)).toContain(wanted);
        const blocks = posted.body.blocks as { text?: { text: string } }[];
        expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
        for (const b of blocks) expect((b.text?.text ?? '').length).toBeLessThanOrEqual(SLACK_LIMITS.text);

        const { token } = discord.fake.sendCommand({
          name: 'db-backups',
          ...(n === 200 ? { options: [{ name: 'count', type: 4, value: 100 }] } : {}),
        });
        const answer = await discord.fake.waitForCall(
          (c) => c.method === 'PATCH' && c.path === `/webhooks/${APP}/${token}/messages/@original`,
          60_000,
        );
        expect(embedLength(answer.body.embeds)).toBeLessThanOrEqual(DISCORD_LIMITS.total);
        expect(answer.body.embeds[0].title).toBe('Backups of app');
        if (n === 200) {
          expect(answer.body.embeds[0].description).toMatch(/… and \d+ more/);
          expect(JSON.stringify(answer.body)).toContain('Kept');
        }
        for (const text of [JSON.stringify(posted.body), JSON.stringify(answer.body)])
          expect(text).not.toContain(storeDir);
      }
      // The bad count is refused, privately, with the usage.
      const { responseUrl } = fake.sendSlashCommand({
        command: '/db-backups',
        channelId: 'C0BAD',
        text: 'lots',
      });
      const refusal = await fake.waitFor(
        (c) => c.kind === 'response_url' && c.method === responseUrl.split('/').at(-1),
      );
      expect(refusal.body.response_type).toBe('ephemeral');
      expect(JSON.stringify(refusal.body)).toContain('Usage: /db-backups [count]');
    } finally {
      await slack.stop();
      await discord.stopAll();
    }
  });
});
