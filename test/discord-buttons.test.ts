import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { loadWatchState } from '../src/guard/watch-state.js';
import type { Services } from '../src/main.js';
import { useTestCluster } from './helpers/cluster.js';
import { APP, CHANNEL, useDiscordBot } from './helpers/discord-bot.js';
import type { FakeDiscord, RecordedCall } from './helpers/fake-discord.js';

/** The buttons under a real data-loss warning on Discord: real discord.js against the fake gateway and REST. */
const db = useTestCluster();
const harness = useDiscordBot(db);
let fake: FakeDiscord;
let services: Services;
const ALICE = '500000000000000042';
const BOB = '500000000000000043';

// biome-ignore lint/suspicious/noExplicitAny: messages as the fake stores them
let warning: any;

beforeAll(async () => {
  fake = harness.fake;
  await seedDemo(db.url);
  ({ services } = await harness.start({ env: { DBWARDEN_BACKUP_USERS: ALICE } }));
  await services.backups.run({ requestedBy: 'schedule' });
  await services.watch();
  await db.sql('DELETE FROM billing_transaction WHERE id % 10 < 3');
  expect((await services.watch()).posted).toEqual([{ code: 'rows-dropped', kind: 'new' }]);
  warning = [...fake.channelMessages.values()].find((m) => m.components.length > 0);
});

const callback = (p: { id: string; token: string }) => (c: RecordedCall) =>
  c.path === `/interactions/${p.id}/${p.token}/callback`;
const followUps = (p: { token: string }) => (c: RecordedCall) =>
  c.method === 'POST' && c.path === `/webhooks/${APP}/${p.token}`;
const warningEdits = () =>
  fake.calls.filter((c) => c.method === 'PATCH' && c.path === `/channels/${CHANNEL}/messages/${warning.id}`);
/** The open rows-dropped warning as its buttons name it: its code and when it opened. */
const openRef = async () =>
  `rows-dropped@${Date.parse((await loadWatchState(services.store)).open['rows-dropped']!.since)}`;
const customIds = (m: { components: { components: { custom_id: string }[] }[] }) =>
  m.components.flatMap((r) => r.components.map((b) => b.custom_id));

describe('buttons on a data-loss warning on Discord', () => {
  it('are posted as one row of buttons naming the action and a value, never a secret', async () => {
    const good = (await services.backups.latestGood())!;
    const ref = await openRef();
    expect(customIds(warning)).toEqual([
      `dbw|way-back|${good.id}`,
      `dbw|backup-now|${ref}`,
      `dbw|accept|${ref}`,
    ]);
    expect(JSON.stringify(warning)).not.toContain(db.password);
  });

  it('"Show the way back": a deferred update at once, then a private answer with the masked restore command', async () => {
    const good = (await services.backups.latestGood())!;
    const press = fake.pressButton({ message: warning, customId: `dbw|way-back|${good.id}`, userId: BOB });
    const answer = await fake.waitForCall(followUps(press), 30_000);
    expect(fake.calls.find(callback(press))!.body).toEqual({ type: 6 });
    expect(answer.body.flags).toBe(64);
    expect(answer.body.embeds[0].title).toBe('The way back: app');
    expect(JSON.stringify(answer.body)).toContain(`dbwarden restore ${good.id}`);
    expect(JSON.stringify(answer.body)).not.toContain(db.password);
    expect(warningEdits()).toEqual([]);
  });

  it('an expired press does nothing', async () => {
    const token = `aW50ZXJhY3Rpb24${randomBytes(24).toString('hex')}`;
    fake.expireInteractionToken(token);
    const before = (await services.backups.list()).length;
    const press = fake.pressButton({
      message: warning,
      customId: `dbw|backup-now|${await openRef()}`,
      userId: ALICE,
      token,
    });
    await fake.waitForCall(callback(press));
    await new Promise((r) => setTimeout(r, 500));
    expect((await services.backups.list()).length).toBe(before);
    expect(services.backups.running()).toBeNull();
    expect(fake.calls.filter(followUps(press))).toEqual([]);
  });

  it('"Accept this change": refused to others; a private confirm; accepted once and noted on the warning', async () => {
    const ref = await openRef();
    const bob = fake.pressButton({ message: warning, customId: `dbw|accept|${ref}`, userId: BOB });
    const no = await fake.waitForCall(followUps(bob));
    expect(no.body.embeds[0].title).toBe('Not allowed');
    expect(no.body.flags).toBe(64);

    const alice = fake.pressButton({
      message: warning,
      customId: `dbw|accept|${ref}`,
      userId: ALICE,
      username: 'alice',
    });
    const prompt = await fake.waitForCall(followUps(alice));
    expect(prompt.body.flags).toBe(64);
    expect(prompt.body.embeds[0].title).toBe('Accept this change?');
    const confirmId = `dbw|accept!|${ref}|${CHANNEL}:${warning.id}`;
    expect(customIds(prompt.body)).toEqual([confirmId]);
    expect((await loadWatchState(services.store)).open['rows-dropped']).toBeDefined();

    const ephemeral = fake.message(CHANNEL, prompt.body);
    const yes = fake.pressButton({
      message: ephemeral,
      customId: confirmId,
      userId: ALICE,
      username: 'alice',
    });
    await fake.waitForCall(() => warningEdits().length > 0, 30_000);
    const edit = warningEdits()[0]!;
    const note = edit.body.embeds.at(-1);
    expect(note.description).toMatch(/^✅ Accepted by alice \(discord:500000000000000042\) at \d{4}-/);
    expect(edit.body.components).toEqual([]);
    expect(edit.body.embeds[0].title).toBe(warning.embeds[0].title);
    const state = await loadWatchState(services.store);
    expect(state.open['rows-dropped']).toBeUndefined();
    expect(state.accepted?.by).toBe(`discord:${ALICE}`);

    // The same press replayed (one interaction id) does nothing more; a new press is told it is settled.
    fake.pressButton({
      message: ephemeral,
      customId: confirmId,
      userId: ALICE,
      id: yes.id,
      token: yes.token,
    });
    const late = fake.pressButton({ message: warning, customId: `dbw|accept|${ref}`, userId: ALICE });
    const settled = await fake.waitForCall(followUps(late));
    expect(settled.body.embeds[0].title).toBe('Already resolved');
    expect(warningEdits()).toHaveLength(1);
  });
});
