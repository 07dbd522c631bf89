import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { loadWatchState } from '../src/guard/watch-state.js';
import { runScheduledBackup } from '../src/serve/scheduled-jobs.js';
import { useTestCluster } from './helpers/cluster.js';
import {
  type FakeSlack,
  header,
  type RecordedCall,
  startFakeSlack,
  viaResponseUrl,
} from './helpers/fake-slack.js';
import { type RunningBot, startBot } from './helpers/slack-bot.js';

/** The buttons under a real data-loss warning, pressed through real Bolt against the fake Slack. */
const db = useTestCluster();
let fake: FakeSlack;
let bot: RunningBot;
let warningBlocks: unknown[] = [];

beforeAll(async () => {
  await seedDemo(db.url);
  fake = await startFakeSlack();
});
afterAll(async () => {
  await bot?.stop();
  await fake?.close();
});

const json = (c: RecordedCall) => JSON.stringify(c.body);
const edits = (ts: string) => (c: RecordedCall) =>
  c.kind === 'api' && c.method === 'chat.update' && c.body.ts === ts;
const notes = (ts: string) =>
  fake.calls.filter(edits(ts)).map((c) => {
    const block = (c.body.blocks as { block_id?: string; elements?: { text: string }[] }[]).find(
      (b) => b.block_id === 'dbwarden-note',
    );
    return block?.elements?.[0]?.text ?? '';
  });

/** A backup, a baseline round, 30 % of the transactions deleted, and the round that posts rows-dropped. */
async function postWarning(): Promise<RecordedCall> {
  await bot.services.backups.run({ requestedBy: 'schedule' });
  await bot.services.watch();
  await db.sql('DELETE FROM billing_transaction WHERE id % 10 < 3');
  const before = fake.api('chat.postMessage').length;
  const r = await bot.services.watch();
  expect(r.posted).toEqual([{ code: 'rows-dropped', kind: 'new' }]);
  const posted = fake.api('chat.postMessage').slice(before);
  expect(posted).toHaveLength(1);
  return posted[0]!;
}

describe('buttons on a data-loss warning in Slack', () => {
  it('carry the way back, a backup and accepting, never a secret', async () => {
    bot = await startBot(fake, {
      mode: 'socket',
      databaseUrl: db.url,
      env: { DBWARDEN_BACKUP_USERS: 'U0ALICE' },
      slack: { editIntervalMs: 50 },
    });
    const warning = await postWarning();
    warningBlocks = warning.body.blocks as unknown[];
    const actions = (
      warning.body.blocks as { block_id?: string; elements?: Record<string, unknown>[] }[]
    ).find((b) => b.block_id === 'dbwarden-actions')!;
    expect(actions.elements!.map((e) => e.action_id)).toEqual([
      'dbwarden.way-back',
      'dbwarden.backup-now',
      'dbwarden.accept',
    ]);
    const good = (await bot.services.backups.latestGood())!;
    // The warning's buttons name this occurrence of it (when it opened), not just its kind.
    const open = (await loadWatchState(bot.services.store)).open['rows-dropped']!;
    const ref = `rows-dropped@${Date.parse(open.since)}`;
    expect(actions.elements!.map((e) => e.value)).toEqual([good.id, ref, ref]);
    expect((actions.elements![2]!.confirm as { title: { text: string } }).title.text).toBe(
      'Accept this change?',
    );
    expect(json(warning)).not.toContain(db.password);
  });

  it('"Show the way back" answers only the presser with the masked restore command and a scratch variant', async () => {
    const ts = String(fake.api('chat.postMessage').at(-1)!.answer!.ts);
    const press = fake.sendBlockAction({
      ts,
      actionId: 'dbwarden.way-back',
      userId: 'U0BOB',
      userName: 'bob',
    });
    const answer = await fake.waitFor(viaResponseUrl(press.responseUrl));
    expect(answer.body.response_type).toBe('ephemeral');
    expect(answer.body.replace_original).toBe(false);
    expect(header(answer)).toBe('✅ production · The way back: app');
    const good = (await bot.services.backups.latestGood())!;
    const display = bot.services.target.display;
    expect(json(answer)).toContain(`dbwarden restore ${good.id} --to ${display}`);
    expect(json(answer)).toContain(`dbwarden restore ${good.id} --to ${display}_restore`);
    expect(json(answer)).not.toContain(db.password);
    expect(fake.calls.filter(edits(ts))).toEqual([]);
  });

  it('"Take a backup now": refused to an unlisted user, done once on a double press, noted on the warning', async () => {
    const ts = String(fake.api('chat.postMessage').at(-1)!.answer!.ts);
    const before = (await bot.services.backups.list()).length;
    const mallory = fake.sendBlockAction({ ts, actionId: 'dbwarden.backup-now', userId: 'U0MALLORY' });
    const no = await fake.waitFor(viaResponseUrl(mallory.responseUrl));
    expect(header(no)).toBe('⚠️ production · Not allowed');
    expect(json(no)).toContain('your user ID (U0MALLORY)');

    const first = fake.sendBlockAction({ ts, actionId: 'dbwarden.backup-now', userId: 'U0ALICE' });
    const second = fake.sendBlockAction({ ts, actionId: 'dbwarden.backup-now', userId: 'U0ALICE' });
    // The replay of the first press (Slack redelivering its envelope) does nothing at all.
    fake.sendBlockAction({
      ts,
      actionId: 'dbwarden.backup-now',
      userId: 'U0ALICE',
      triggerId: first.triggerId,
    });
    const refused = await fake.waitFor(viaResponseUrl(second.responseUrl), 60_000);
    expect(header(refused)).toMatch(/Already in progress|Backup already running/);
    await fake.waitFor((c) => edits(ts)(c) && json(c).includes('taken by'), 120_000);
    const after = await bot.services.backups.list();
    expect(after.length).toBe(before + 1);
    const taken = after[0]!;
    expect(taken.requestedBy).toBe('slack:U0ALICE');
    const last = notes(ts).at(-1)!;
    expect(last).toContain(`Backup ${taken.id} of app`);
    expect(last).toContain('taken by alice (slack:U0ALICE) at');
    expect(notes(ts)[0]).toContain('⏳ Backup started by alice (slack:U0ALICE)');
    // The buttons stay: the warning is still open.
    const blocks = fake.message(ts)!.blocks as { block_id?: string }[];
    expect(blocks.some((b) => b.block_id === 'dbwarden-actions')).toBe(true);
    expect(fake.calls.filter(viaResponseUrl(first.responseUrl))).toEqual([]);
  });

  it('"Accept this change": only listed users; accepted once, noted with who and when; then "already resolved"', async () => {
    const ts = String(fake.api('chat.postMessage').at(-1)!.answer!.ts);
    const mallory = fake.sendBlockAction({ ts, actionId: 'dbwarden.accept', userId: 'U0MALLORY' });
    expect(header(await fake.waitFor(viaResponseUrl(mallory.responseUrl)))).toBe(
      '⚠️ production · Not allowed',
    );
    expect((await loadWatchState(bot.services.store)).open['rows-dropped']).toBeDefined();

    const press = fake.sendBlockAction({ ts, actionId: 'dbwarden.accept', userId: 'U0ALICE' });
    const accepted = await fake.waitFor((c) => edits(ts)(c) && json(c).includes('Accepted by'), 60_000);
    expect(notes(ts).at(-1)).toMatch(
      /^✅ Accepted by alice \(slack:U0ALICE\) at \d{4}-\d\d-\d\d \d\d:\d\d UTC/,
    );
    // Settled: the buttons are gone from the message, the baseline moved, the warning closed.
    expect(
      (accepted.body.blocks as { block_id?: string }[]).some((b) => b.block_id === 'dbwarden-actions'),
    ).toBe(false);
    const state = await loadWatchState(bot.services.store);
    expect(state.open['rows-dropped']).toBeUndefined();
    expect(state.accepted?.by).toBe('slack:U0ALICE');
    expect((await bot.services.watch()).warnings.map((w) => w.code)).not.toContain('rows-dropped');
    expect(fake.calls.filter(viaResponseUrl(press.responseUrl))).toEqual([]);

    // A press on an older copy of the message (another client had not refreshed): told it is settled, privately.
    const stale = fake.sendBlockAction({
      ts,
      actionId: 'dbwarden.accept',
      userId: 'U0ALICE',
      blocks: warningBlocks,
    });
    const settled = await fake.waitFor(viaResponseUrl(stale.responseUrl));
    expect(header(settled)).toBe('⚠️ production · Already resolved');
    expect(json(settled)).toContain('accepted by slack:U0ALICE at');
  });
});

describe('buttons on a failed backup in Slack', () => {
  it('"Show the cause" privately; "Retry now" takes the backup once the database is back', async () => {
    db.stop();
    try {
      await expect(runScheduledBackup(bot.services, bot.services.backups)).rejects.toThrow();
    } finally {
      db.start();
    }
    const failed = fake.api('chat.postMessage').at(-1)!;
    expect(header(failed)).toBe('🚨 production · Backup of app failed');
    const ts = String(failed.answer!.ts);
    const buttons = (failed.body.blocks as { block_id?: string; elements?: { action_id: string }[] }[]).find(
      (b) => b.block_id === 'dbwarden-actions',
    )!;
    expect(buttons.elements!.map((e) => e.action_id)).toEqual([
      'dbwarden.retry-backup',
      'dbwarden.show-cause',
    ]);
    const recorded = (await bot.services.backups.list()).find((m) => m.status === 'failed')!;

    const cause = fake.sendBlockAction({
      ts,
      actionId: 'dbwarden.show-cause',
      userId: 'U0BOB',
      userName: 'bob',
    });
    const why = await fake.waitFor(viaResponseUrl(cause.responseUrl));
    expect(why.body.response_type).toBe('ephemeral');
    expect(header(why)).toBe('⚠️ production · Why the backup of app failed');
    expect(json(why)).toContain(recorded.id);
    expect(json(why)).toContain(recorded.error!.message.slice(0, 40));
    expect(json(why)).not.toContain(db.password);

    const mallory = fake.sendBlockAction({ ts, actionId: 'dbwarden.retry-backup', userId: 'U0MALLORY' });
    expect(header(await fake.waitFor(viaResponseUrl(mallory.responseUrl)))).toBe(
      '⚠️ production · Not allowed',
    );

    const before = (await bot.services.backups.list()).length;
    fake.sendBlockAction({ ts, actionId: 'dbwarden.retry-backup', userId: 'U0ALICE' });
    const done = await fake.waitFor((c) => edits(ts)(c) && json(c).includes('taken by'), 120_000);
    const all = await bot.services.backups.list();
    expect(all.length).toBe(before + 1);
    expect(all[0]!.status).toBe('complete');
    expect(all[0]!.requestedBy).toBe('slack:U0ALICE');
    expect(notes(ts).at(-1)).toContain(`Backup ${all[0]!.id} of app`);
    // Fixed: the failed message keeps its story and loses its buttons.
    expect((done.body.blocks as { block_id?: string }[]).some((b) => b.block_id === 'dbwarden-actions')).toBe(
      false,
    );
  });
});

describe('button presses in HTTP mode', () => {
  it('are signed like commands: a stale or forged press is refused with 401 and does nothing', async () => {
    const http = await startBot(fake, {
      mode: 'http',
      databaseUrl: db.url,
      env: { DBWARDEN_BACKUP_USERS: 'U0ALICE' },
    });
    try {
      // The failed backup's message as first posted, with its buttons.
      const failed = fake.api('chat.postMessage').find((c) => header(c).includes('Backup of app failed'))!;
      const ts = String(failed.answer!.ts);
      const blocks = failed.body.blocks as unknown[];
      const before = (await http.services.backups.list()).length;
      const post = (body: string, headers: Record<string, string>) =>
        fetch(`${http.url}/slack/events`, { method: 'POST', body, headers });
      // Ten minutes old: outside Slack's 5-minute replay window.
      const stale = fake.actionForm({ ts, blocks, actionId: 'dbwarden.retry-backup', userId: 'U0ALICE' });
      expect(
        (await post(stale.body, fake.sign(stale.body, Math.floor(Date.now() / 1000) - 600))).status,
      ).toBe(401);
      const forged = fake.actionForm({ ts, blocks, actionId: 'dbwarden.retry-backup', userId: 'U0ALICE' });
      expect((await post(forged.body, fake.sign(forged.body, undefined, 'not-the-secret'))).status).toBe(401);
      // A fresh, signed press works through the same endpoint as the commands.
      const good = fake.actionForm({ ts, blocks, actionId: 'dbwarden.show-cause', userId: 'U0BOB' });
      expect((await post(good.body, fake.sign(good.body))).status).toBe(200);
      expect(header(await fake.waitFor(viaResponseUrl(good.responseUrl)))).toMatch(/failed|No failed backup/);
      await new Promise((r) => setTimeout(r, 300));
      expect((await http.services.backups.list()).length).toBe(before);
      expect(fake.calls.filter(viaResponseUrl(stale.responseUrl))).toEqual([]);
    } finally {
      await http.stop();
    }
  });
});
