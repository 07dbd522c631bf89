import { basename } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { LEVEL_COLOUR } from '../src/chat/discord/render-discord.js';
import { seedDemo } from '../src/demo/seed.js';
import type { Services } from '../src/main.js';
import { useTestCluster } from './helpers/cluster.js';
import { useDiscordBot, webhookEdits } from './helpers/discord-bot.js';
import type { FakeDiscord, RecordedCall } from './helpers/fake-discord.js';

const db = useTestCluster();
const harness = useDiscordBot(db);
let fake: FakeDiscord;
let services: Services;

const ALICE = '500000000000000042';
const BOB = '500000000000000043';
const CAROL = '500000000000000044';
const OPS_ROLE = '600000000000000099';

/** The edit of an interaction's reply that is an answer, not progress. */
async function finalEdit(token: string): Promise<RecordedCall> {
  return fake.waitForCall(
    (c) => webhookEdits(token)(c) && !String(c.body.embeds?.[0]?.title).startsWith('Backing up'),
    120_000,
  );
}

/**
 * A refusal reached only the asker: the interaction was deferred with the ephemeral flag (64) and answered with a
 * warning (never the critical red), and nothing went to the channel.
 */
function expectPrivateRefusal(
  interaction: { id: string; token: string },
  answer: RecordedCall,
  title: string,
) {
  const callback = fake.calls.find(
    (c) => c.path === `/interactions/${interaction.id}/${interaction.token}/callback`,
  )!;
  expect(callback.body).toEqual({ type: 5, data: { flags: 64 } });
  expect(answer.body.embeds[0].title).toBe(title);
  expect(answer.body.embeds[0].color).toBe(LEVEL_COLOUR.warn);
  expect(JSON.stringify(answer.body)).not.toContain('🚨');
  expect(fake.calls.filter(webhookEdits(interaction.token))).toHaveLength(1);
}
/** Messages the bot posted to a channel (not interaction replies). */
const channelPosts = () => fake.calls.filter((c) => c.method === 'POST' && c.path.startsWith('/channels/'));

const field = (c: RecordedCall, name: string) =>
  c.body.embeds[0].fields?.find((f: { name: string }) => f.name === name)?.value as string | undefined;

beforeAll(async () => {
  fake = harness.fake;
  await seedDemo(db.url);
  // Alice is listed by her user ID, the ops role by its role ID.
  ({ services } = await harness.start({ env: { DBWARDEN_BACKUP_USERS: `${ALICE},${OPS_ROLE}` } }));
});

describe('/backup-now on Discord', () => {
  it('is deferred, edited with progress, and confirmed with a backup that exists in the store', async () => {
    const { id, token } = fake.sendCommand({ name: 'backup-now', userId: ALICE, username: 'alice' });
    const done = await finalEdit(token);
    const callback = fake.calls.find((c) => c.path === `/interactions/${id}/${token}/callback`)!;
    expect(callback.body.type).toBe(5);
    const edits = fake.calls.filter(webhookEdits(token));
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits[0]!.body.embeds[0].title).toBe('Backing up app');
    expect(edits[0]!.body.embeds[0].description).toMatch(/Starting|Dumping/);
    expect(done.body.embeds[0].title).toBe('Backup of app complete');
    // The environment once, and the store by its name: never the server's filesystem path.
    expect(done.body.embeds[0].footer.text).toBe(
      `production · stored in the file store ${basename(services.store.location)}`,
    );
    expect(JSON.stringify(done.body)).not.toContain(services.store.location);
    const backupId = field(done, 'Backup')!;
    const manifests = await services.backups!.list();
    const m = manifests.find((x) => x.id === backupId.replace(/\\/g, ''));
    expect(m).toBeDefined();
    expect(m!.requestedBy).toBe(`discord:${ALICE}`);
    expect(await services.backups!.latestGood()).toMatchObject({ id: m!.id });
    // The dump itself is in the store, at the size the manifest records.
    const dump = await services.store.stat(m!.dumpKey);
    expect(dump?.size).toBe(m!.sizeBytes);
  });

  it('refuses a user who is not listed and has no listed role, and accepts a listed role', async () => {
    const refused = fake.sendCommand({
      name: 'backup-now',
      userId: BOB,
      username: 'bob',
      roles: ['600000000000000001'],
    });
    const no = await finalEdit(refused.token);
    expectPrivateRefusal(refused, no, 'Not allowed');
    expect(no.body.embeds[0].description).toContain('You may not start backups of app');
    expect(no.body.embeds[0].description).toContain(`your user ID (${BOB})`);

    const byRole = fake.sendCommand({
      name: 'backup-now',
      userId: CAROL,
      username: 'carol',
      roles: [OPS_ROLE],
    });
    const yes = await finalEdit(byRole.token);
    expect(yes.body.embeds[0].title).toBe('Backup of app complete');
  });

  it('refuses a second backup while one runs, naming who started the first', async () => {
    // A lock pg_dump must wait for keeps the first backup running for as long as the test needs.
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE auth_user IN ACCESS EXCLUSIVE MODE');
    const first = fake.sendCommand({ name: 'backup-now', userId: ALICE, username: 'alice' });
    try {
      await fake.waitForCall(webhookEdits(first.token));
      await waitUntil(() => services.backups!.running() !== null);
      const second = fake.sendCommand({
        name: 'backup-now',
        userId: CAROL,
        username: 'carol',
        roles: [OPS_ROLE],
      });
      const refused = await finalEdit(second.token);
      expectPrivateRefusal(second, refused, 'Backup already running');
      expect(refused.body.embeds[0].description).toContain('started by alice');
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    const done = await finalEdit(first.token);
    expect(done.body.embeds[0].title).toBe('Backup of app complete');
  });

  it('posted nothing to the channel: answers went to the interactions, refusals only to their askers', () => {
    expect(channelPosts()).toEqual([]);
  });

  it('never sends the database password or the bot token in a message', () => {
    for (const c of fake.calls) {
      expect(`${c.path} ${c.query} ${c.raw}`).not.toContain(db.password);
      expect(`${c.path} ${c.query} ${c.raw}`).not.toContain(harness.token);
    }
    expect(harness.logs).not.toContain(db.password);
    expect(harness.logs).not.toContain(harness.token);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
