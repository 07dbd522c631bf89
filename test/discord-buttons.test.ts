import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { loadWatchState } from '../src/guard/watch-state.js';
import type { Services } from '../src/main.js';
import { runScheduledBackup } from '../src/serve/scheduled-jobs.js';
import { isGood } from '../src/store/manifest.js';
import { useTestCluster } from './helpers/cluster.js';
import { APP, CHANNEL, useDiscordBot } from './helpers/discord-bot.js';
import type { FakeDiscord, RecordedCall } from './helpers/fake-discord.js';

/** The buttons under a real data-loss warning and a real failed backup on Discord: real discord.js, fake Discord. */
const db = useTestCluster();
const harness = useDiscordBot(db);
let fake: FakeDiscord;
let services: Services;
const ALICE = '500000000000000042';
const BOB = '500000000000000043';

// biome-ignore lint/suspicious/noExplicitAny: messages as the fake stores them
type Message = any;
/** The warning as first posted, buttons and all: pressing it again is pressing a stale copy. */
let warning: Message;

/** When the open rows-dropped warning opened, as its buttons name it ("rows-dropped@<ms>"). */
async function openRef(): Promise<string> {
  const open = (await loadWatchState(services.store)).open['rows-dropped'];
  return `rows-dropped@${Date.parse(open!.since)}`;
}

/** The ids of the channel's messages so far. */
const postedIds = () => new Set(fake.channelMessages.keys());
/** The channel messages posted since `before` was taken, as they are now (read at once: as first posted). */
function postedSince(before: Set<string>): Message[] {
  return [...fake.channelMessages.values()].filter((m) => !before.has(m.id));
}

beforeAll(async () => {
  fake = harness.fake;
  await seedDemo(db.url);
  ({ services } = await harness.start({ env: { DBWARDEN_BACKUP_USERS: ALICE } }));
  await services.backups.run({ requestedBy: 'schedule' });
  await services.watch();
  await db.sql('DELETE FROM billing_transaction WHERE id % 10 < 3');
  const before = postedIds();
  expect((await services.watch()).posted).toEqual([{ code: 'rows-dropped', kind: 'new' }]);
  warning = postedSince(before).find((m) => m.components.length > 0);
});

const callback = (p: { id: string; token: string }) => (c: RecordedCall) =>
  c.path === `/interactions/${p.id}/${p.token}/callback`;
const followUps = (p: { token: string }) => (c: RecordedCall) =>
  c.method === 'POST' && c.path === `/webhooks/${APP}/${p.token}`;
const edits = (m: Message) => () =>
  fake.calls.filter((c) => c.method === 'PATCH' && c.path === `/channels/${CHANNEL}/messages/${m.id}`);
const warningEdits = () => edits(warning)();
const customIds = (m: { components: { components: { custom_id: string }[] }[] }) =>
  m.components.flatMap((r) => r.components.map((b) => b.custom_id));
/** An answer's embeds as a person reads them: titles, descriptions and fields, Markdown escapes undone. */
const text = (c: RecordedCall) =>
  (c.body.embeds as { title?: string; description?: string; fields?: { name: string; value: string }[] }[])
    .map((e) => [e.title, e.description, ...(e.fields ?? []).map((f) => `${f.name}: ${f.value}`)].join('\n'))
    .join('\n')
    .replace(/\\(.)/g, '$1');
/** The note dbwarden left on a message in its last edit. */
const lastNote = (m: Message) => String(edits(m)().at(-1)?.body.embeds.at(-1).description ?? '');
/** A private answer to one press. */
async function privately(p: { token: string }, timeoutMs = 30_000): Promise<RecordedCall> {
  const answer = await fake.waitForCall(followUps(p), timeoutMs);
  expect(answer.body.flags).toBe(64);
  return answer;
}

describe('buttons on a data-loss warning on Discord', () => {
  it('are posted as one row of buttons naming the action and this warning, never a secret', async () => {
    const good = (await services.backups.latestGood())!;
    const ref = await openRef();
    expect(customIds(warning)).toEqual([
      `dbw|way-back|${good.id}`,
      `dbw|backup-now|${ref}`,
      `dbw|accept|${ref}`,
    ]);
    expect(JSON.stringify(warning)).not.toContain(db.password);
  });

  it('"Show the way back": a deferred update at once, then a private answer with the masked restore command and the scratch variant', async () => {
    const good = (await services.backups.latestGood())!;
    const press = fake.pressButton({ message: warning, customId: `dbw|way-back|${good.id}`, userId: BOB });
    const answer = await privately(press);
    expect(fake.calls.find(callback(press))!.body).toEqual({ type: 6 });
    expect(answer.body.embeds[0].title).toBe('The way back: app');
    const display = services.target.display;
    expect(text(answer)).toContain(`dbwarden restore ${good.id} --to ${display} --clean`);
    // The safer way: a scratch database next to it, created first, rows copied back from there.
    expect(text(answer)).toContain('createdb app_restore');
    expect(text(answer)).toContain(`dbwarden restore ${good.id} --to ${display}_restore`);
    expect(JSON.stringify(answer.body)).not.toContain(db.password);
    expect(warningEdits()).toEqual([]);
  });

  it('"Take a backup now": refused to an unlisted user; a double click takes one verified backup, noted with who took it', async () => {
    const ref = await openRef();
    const before = (await services.backups.list()).length;
    const bob = fake.pressButton({ message: warning, customId: `dbw|backup-now|${ref}`, userId: BOB });
    const no = await privately(bob);
    expect(no.body.embeds[0].title).toBe('Not allowed');
    expect(text(no)).toContain(`your user ID (${BOB})`);

    const press = { message: warning, customId: `dbw|backup-now|${ref}`, userId: ALICE, username: 'alice' };
    const first = fake.pressButton(press);
    const second = fake.pressButton(press);
    // Discord delivering the first press again (same interaction) does nothing at all.
    fake.pressButton({ ...press, id: first.id, token: first.token });
    const refused = await privately(second, 60_000);
    expect(refused.body.embeds[0].title).toMatch(/Already in progress|Backup already running/);
    await fake.waitForCall(() => lastNote(warning).includes('taken by'), 120_000);

    const after = await services.backups.list();
    expect(after.length).toBe(before + 1);
    const taken = after[0]!;
    expect(isGood(taken)).toBe(true);
    expect(taken.requestedBy).toBe(`discord:${ALICE}`);
    expect(lastNote(warning)).toContain(`Backup ${taken.id} of app`);
    expect(lastNote(warning)).toContain(`taken by alice (discord:${ALICE}) at`);
    expect(String(warningEdits()[0]!.body.embeds.at(-1).description)).toContain(
      `⏳ Backup started by alice (discord:${ALICE})`,
    );
    // The warning is still open: its buttons stay, and the original embed is kept above the note.
    const last = warningEdits().at(-1)!;
    expect(customIds(last.body)).toEqual(customIds(warning));
    expect(last.body.embeds[0].title).toBe(warning.embeds[0].title);
    expect(fake.calls.filter(followUps(first))).toEqual([]);
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

  it('"Accept this change": refused to others; a private confirm; accepted once and noted; then the warning\'s buttons say "already resolved"', async () => {
    const ref = await openRef();
    const noted = warningEdits().length;
    const bob = fake.pressButton({ message: warning, customId: `dbw|accept|${ref}`, userId: BOB });
    expect((await privately(bob)).body.embeds[0].title).toBe('Not allowed');

    const alice = fake.pressButton({
      message: warning,
      customId: `dbw|accept|${ref}`,
      userId: ALICE,
      username: 'alice',
    });
    const prompt = await privately(alice);
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
    await fake.waitForCall(() => warningEdits().length > noted, 30_000);
    const edit = warningEdits()[noted]!;
    const note = edit.body.embeds.at(-1);
    expect(note.description).toMatch(/^✅ Accepted by alice \(discord:500000000000000042\) at \d{4}-/);
    expect(edit.body.components).toEqual([]);
    expect(edit.body.embeds[0].title).toBe(warning.embeds[0].title);
    const state = await loadWatchState(services.store);
    expect(state.open['rows-dropped']).toBeUndefined();
    expect(state.accepted?.by).toBe(`discord:${ALICE}`);

    // The same press replayed (one interaction id) does nothing more; new presses on a stale copy are told it is
    // settled, privately: Accept, and Take a backup now, which starts no backup for a warning that is gone.
    fake.pressButton({
      message: ephemeral,
      customId: confirmId,
      userId: ALICE,
      id: yes.id,
      token: yes.token,
    });
    const late = fake.pressButton({ message: warning, customId: `dbw|accept|${ref}`, userId: ALICE });
    const settled = await privately(late);
    expect(settled.body.embeds[0].title).toBe('Already resolved');
    expect(text(settled)).toContain(`accepted by discord:${ALICE} at`);
    const backups = (await services.backups.list()).length;
    const again = fake.pressButton({ message: warning, customId: `dbw|backup-now|${ref}`, userId: ALICE });
    expect((await privately(again)).body.embeds[0].title).toBe('Already resolved');
    expect((await services.backups.list()).length).toBe(backups);
    expect(services.backups.running()).toBeNull();
    expect(warningEdits()).toHaveLength(noted + 1);
  });

  it("an old warning's buttons never act on a newer warning of the same kind", async () => {
    const oldRef = customIds(warning)[2]!.split('|')[2]!;
    // Rows vanish again after the acceptance: a new rows-dropped warning, posted on a message of its own.
    await db.sql('DELETE FROM billing_transaction WHERE id % 10 BETWEEN 3 AND 6');
    const before = postedIds();
    expect((await services.watch()).posted).toContainEqual({ code: 'rows-dropped', kind: 'new' });
    const newer = postedSince(before).find((m) => m.components.length > 0);
    const newRef = await openRef();
    expect(newRef).not.toBe(oldRef);
    expect(customIds(newer)).toContain(`dbw|accept|${newRef}`);

    const backups = (await services.backups.list()).length;
    for (const action of ['accept', 'backup-now']) {
      const press = fake.pressButton({
        message: warning,
        customId: `dbw|${action}|${oldRef}`,
        userId: ALICE,
      });
      const answer = await privately(press);
      expect(answer.body.embeds[0].title).toBe('Already resolved');
      expect(text(answer)).toContain('A newer rows-dropped warning is open since');
    }
    expect((await loadWatchState(services.store)).open['rows-dropped']).toBeDefined();
    expect((await services.backups.list()).length).toBe(backups);
    expect(edits(newer)()).toEqual([]);
  });
});

describe('buttons on a failed backup on Discord', () => {
  /** Two real failed backups (the database down), each posted as the schedule posts it. */
  let failures: { id: string; message: Message }[] = [];

  beforeAll(async () => {
    const before = postedIds();
    db.stop();
    try {
      for (let i = 0; i < 2; i++)
        await expect(runScheduledBackup(services, services.backups)).rejects.toThrow();
    } finally {
      db.start();
    }
    const posted = postedSince(before).filter((m) => m.embeds[0].title === 'Backup of app failed');
    const failed = (await services.backups.list()).filter((m) => m.status === 'failed');
    expect(posted).toHaveLength(2);
    // Newest first in the catalog, oldest first in the channel.
    failures = [failed[1]!, failed[0]!].map((m, i) => ({ id: m.id, message: posted[i] }));
  });

  it('carry Retry now and Show the cause, naming the failed run (an id, no secret)', () => {
    for (const f of failures)
      expect(customIds(f.message)).toEqual([`dbw|retry-backup|${f.id}`, `dbw|show-cause|${f.id}`]);
    expect(JSON.stringify(failures)).not.toContain(db.password);
  });

  it('"Show the cause" answers privately with the failure that message reported, not the newest', async () => {
    const [older, newer] = failures;
    const press = fake.pressButton({
      message: older!.message,
      customId: `dbw|show-cause|${older!.id}`,
      userId: BOB,
    });
    const why = await privately(press);
    expect(why.body.embeds[0].title).toBe('Why the backup of app failed');
    const m = (await services.catalog.read(older!.id))!;
    expect(text(why)).toContain(older!.id);
    expect(text(why)).toContain(m.error!.message.slice(0, 40));
    expect(text(why)).not.toContain(newer!.id);
    expect(JSON.stringify(why.body)).not.toContain(db.password);
    expect(edits(older!.message)()).toEqual([]);
  });

  it('"Retry now": refused to an unlisted user; takes the backup, noted, buttons removed; stale presses are "already resolved"', async () => {
    const [older, newer] = failures;
    const retry = (f: typeof older, userId: string) =>
      fake.pressButton({
        message: f!.message,
        customId: `dbw|retry-backup|${f!.id}`,
        userId,
        username: userId === ALICE ? 'alice' : 'bob',
      });
    const no = await privately(retry(newer, BOB));
    expect(no.body.embeds[0].title).toBe('Not allowed');

    const before = (await services.backups.list()).length;
    retry(newer, ALICE);
    await fake.waitForCall(() => lastNote(newer!.message).includes('taken by'), 120_000);
    const all = await services.backups.list();
    expect(all.length).toBe(before + 1);
    const taken = all[0]!;
    expect(isGood(taken)).toBe(true);
    expect(taken.requestedBy).toBe(`discord:${ALICE}`);
    expect(lastNote(newer!.message)).toContain(`Backup ${taken.id} of app`);
    expect(lastNote(newer!.message)).toContain(`taken by alice (discord:${ALICE}) at`);
    // Fixed: the failed message keeps its story and loses its buttons.
    expect(edits(newer!.message)().at(-1)!.body.components).toEqual([]);

    // Pressed again from a stale copy of that message, or on the older failure: a good backup came since.
    for (const f of [newer, older]) {
      const late = await privately(retry(f, ALICE));
      expect(late.body.embeds[0].title).toBe('Already resolved');
      expect(text(late)).toContain(`a good backup was taken since: ${taken.id}`);
    }
    expect((await services.backups.list()).length).toBe(before + 1);
    expect(services.backups.running()).toBeNull();
    expect(edits(older!.message)()).toEqual([]);
  });
});
