import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { useTestCluster } from './helpers/cluster.js';
import { type FakeSlack, payloadsWithoutCredential, startFakeSlack } from './helpers/fake-slack.js';

// The one-shot verbs that post (digest --post, watch) reach the team channel, not only the terminal.
const db = useTestCluster();
let fake: FakeSlack;
beforeAll(async () => {
  fake = await startFakeSlack();
  await seedDemo(db.url);
});
afterAll(async () => fake?.close());

describe('CLI posts to the chat channel', () => {
  it('`digest --post` and `watch --once` post to SLACK_CHANNEL', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: db.url,
      DBWARDEN_ENV: 'staging',
      DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-cli-posts-')),
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      SLACK_API_URL: fake.apiUrl,
      SLACK_CHANNEL: 'C0TEAM',
      LOG_LEVEL: 'warn',
    };
    const digest = await runCliCaptured(['digest', '--post'], env);
    const posts = () => fake.api('chat.postMessage').filter((c) => c.body.channel === 'C0TEAM');
    expect(posts().some((c) => JSON.stringify(c.body).includes('Daily digest'))).toBe(true);

    await runCliCaptured(['watch', '--once'], env);
    await db.sql('DELETE FROM auth_user WHERE id > 10');
    const watch = await runCliCaptured(['watch', '--once'], env);
    expect(watch.code).toBe(3);
    expect(posts().some((c) => JSON.stringify(c.body).includes('rows-dropped'))).toBe(true);

    for (const text of [digest.out, digest.err, watch.out, watch.err, ...payloadsWithoutCredential(fake)])
      for (const secret of [db.password, fake.botToken, fake.signingSecret])
        expect(text).not.toContain(secret);
  });

  it('`digest --post` without a chat prints the digest once: printing it is the post', async () => {
    const r = await runCliCaptured(['digest', '--post'], {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: db.url,
      DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-cli-posts-')),
      LOG_LEVEL: 'warn',
    });
    const all = r.out + r.err;
    expect(all.match(/Daily digest/g)).toHaveLength(1);
    expect(r.out).not.toContain('Posted to');
  });
});
