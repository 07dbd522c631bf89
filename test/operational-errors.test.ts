import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { runCliCaptured } from './helpers/cli.js';
import { useTestCluster } from './helpers/cluster.js';
import { FakeDiscord } from './helpers/fake-discord.js';
import { type FakeSlack, startFakeSlack } from './helpers/fake-slack.js';
import { useS3Server } from './helpers/s3-server.js';
import { canMountTmpfs } from './helpers/small-disk.js';
import { spawnCli } from './helpers/spawn-cli.js';

// Failures of the world dbwarden runs in (chat outages, refused tokens, store permissions, damaged files) are
// said as what they are and what to do; "This is a bug in dbwarden" is kept for bugs.
const db = useTestCluster();
const s3 = useS3Server({ buckets: ['dbwarden-ops'] });
const BUG = /This is a bug|This is unexpected/;

beforeAll(async () => {
  await seedDemo(db.url);
});

function envFor(store: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    LOG_LEVEL: 'warn',
    DATABASE_URL: db.url,
    DBWARDEN_STORE: store,
    ...extra,
  };
}

async function cli(args: string[], env: Record<string, string>) {
  const r = await runCliCaptured(args, env);
  for (const text of [r.out, r.err]) expect(text).not.toContain(db.password);
  return r;
}

describe('a damaged manifest', () => {
  it('is listed as unreadable by `backups`, and verify and restore name the file and what to do', async () => {
    const store = mkdtempSync(join(tmpdir(), 'dbwarden-damaged-'));
    const env = envFor(store);
    const first = JSON.parse((await cli(['backup', '--json'], env)).out);
    const damaged = JSON.parse((await cli(['backup', '--json'], env)).out);
    const file = join(store, 'backups', `${damaged.id}.json`);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length / 2)); // cut short, as by a full disk or a bad copy

    const list = await cli(['backups'], env);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^${damaged.id} +UNREADABLE +manifest not valid JSON`, 'm'));
    expect(list.out).toMatch(new RegExp(`^${first.id} +verified`, 'm'));
    expect(list.out).toMatch(/1 manifest cannot be read/);
    const json = JSON.parse((await cli(['backups', '--json'], env)).out);
    expect(json.map((b: { id: string }) => b.id)).toEqual([damaged.id, first.id]);
    expect(json[0]).toEqual({
      id: damaged.id,
      key: `backups/${damaged.id}.json`,
      status: 'unreadable',
      reason: expect.stringMatching(/^not valid JSON \(.+\)$/),
    });

    const said = `The manifest of backup ${damaged.id} (backups/${damaged.id}.json in ${store}) is damaged: not valid JSON`;
    const verify = await cli(['verify', damaged.id], env);
    expect(verify.code).toBe(1);
    expect(verify.err).toContain(said);
    expect(verify.err).toMatch(
      /→ Without its manifest the dump cannot be checked or trusted: use another backup/,
    );
    expect(verify.err).toContain(
      `move backups/${damaged.id}.json and backups/${damaged.id}.dump out of the store`,
    );
    expect(verify.err).not.toMatch(BUG);
    const verifyJson = JSON.parse((await cli(['verify', damaged.id, '--json'], env)).out);
    expect(verifyJson.error.code).toBe('manifest-damaged');

    const restore = await cli(['restore', damaged.id, '--to', `${db.url}_scratch`], env);
    expect(restore.code).toBe(1);
    expect(restore.err).toContain(said);
    expect(restore.err).not.toMatch(BUG);
    // The good backup is untouched by its neighbour's damage.
    expect((await cli(['verify', first.id], env)).code).toBe(0);
  });
});

describe('a backup store dbwarden may not write', () => {
  // Root writes through file permissions: the refused write is made real by running the CLI as nobody, the
  // way a container image running as `node` meets a volume mounted owned by root.
  const asRoot = process.getuid?.() === 0;

  it.runIf(asRoot)('EACCES on the publishing rename names the store, the directory and the fix', async () => {
    const store = mkdtempSync(join(tmpdir(), 'dbwarden-eacces-'));
    chmodSync(store, 0o755);
    mkdirSync(join(store, 'backups', 'incoming'), { recursive: true });
    chmodSync(join(store, 'backups'), 0o755);
    // The dump can be written where it is staged, but not published next to the other backups.
    chmodSync(join(store, 'backups', 'incoming'), 0o777);
    const p = spawnCli(['backup'], envFor(store), { user: { uid: 65534, gid: 65534 } });
    const { code } = await p.exited;
    const log = p.log();
    expect(code).toBe(1);
    expect(log).toMatch(
      new RegExp(
        `dbwarden backup: Cannot write to the backup store ${store}: permission denied renaming ${store}/backups/incoming/\\S+\\.dump to ${store}/backups/\\S+\\.dump \\(EACCES\\)\\.`,
      ),
    );
    expect(log).toContain(
      `→ Let uid 65534, the user dbwarden runs as, read and write there: give it the directory (chown -R 65534:65534 ${store}), as volumes are often mounted owned by root, or set DBWARDEN_STORE to a directory it can write.`,
    );
    expect(log).not.toMatch(BUG);
    expect(log).not.toContain(db.password);
    // Nothing half-published is left behind.
    expect(readdirSync(join(store, 'backups', 'incoming'))).toEqual([]);
    expect(readdirSync(join(store, 'backups')).filter((f) => f.endsWith('.dump'))).toEqual([]);
  });

  let mounted: string | null = null;
  afterAll(() => {
    if (mounted) execFileSync('umount', [mounted]);
  });
  const canMount = canMountTmpfs();

  // A real read-only mount: EROFS stops root too.
  it.runIf(canMount)(
    'EROFS on the write of a dump says the volume is read-only; older backups stay',
    async () => {
      mounted = mkdtempSync(join(tmpdir(), 'dbwarden-ro-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mounted]);
      const env = envFor(mounted);
      const old = JSON.parse((await cli(['backup', '--json'], env)).out);
      execFileSync('mount', ['-o', 'remount,ro', mounted]);
      const r = await cli(['backup'], env);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        new RegExp(
          `^dbwarden backup: Cannot write to the backup store ${mounted}: read-only file system on ${mounted}/backups/\\S+ \\(EROFS\\)\\.$`,
          'm',
        ),
      );
      expect(r.err).toContain(
        '→ The volume is mounted read-only: mount it read-write, or set DBWARDEN_STORE to a directory it can write.',
      );
      expect(r.err).not.toMatch(BUG);
      const json = JSON.parse((await cli(['backup', '--json'], env)).out);
      expect(json.error.code).toBe('fs-read-only');
      const list = await cli(['backups', '--json'], env);
      expect(JSON.parse(list.out).map((b: { id: string }) => b.id)).toEqual([old.id]);
    },
  );
});

describe('S3 credentials rejected during a backup', () => {
  it('get the S3 hint, not the file-directory one', async () => {
    // s3rver checks the access key id (not the signature), so the key id is the wrong part.
    const keyId = ['AKIA', 'OPS', randomBytes(4).toString('hex').toUpperCase()].join('');
    const secret = ['wrong', randomBytes(8).toString('hex')].join('-');
    vi.stubEnv('AWS_ACCESS_KEY_ID', keyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', secret);
    try {
      const env = envFor(`s3://${s3.bucket}/prod`, { S3_ENDPOINT: s3.endpoint });
      const r = await cli(['backup'], env);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/rejected the credentials during .* \(InvalidAccessKeyId\)/);
      expect(r.err).toMatch(/→ Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
      expect(r.err).not.toMatch(/DBWARDEN_STORE exists|free space/);
      expect(r.err).not.toMatch(BUG);
      const json = JSON.parse((await cli(['backup', '--json'], env)).out);
      expect(json.error.code).toBe('store-credentials-rejected');
      for (const text of [r.out, r.err, JSON.stringify(json)]) {
        expect(text).not.toContain(keyId);
        expect(text).not.toContain(secret);
      }
    } finally {
      vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
    }
  });
});

describe('chat platforms that refuse', () => {
  const APP = '100000000000000042';
  const CHANNEL = '400000000000000042';
  const token = ['MTAw', randomBytes(12).toString('hex'), randomBytes(16).toString('hex')].join('.');
  let slack: FakeSlack;
  let discord: FakeDiscord;
  beforeAll(async () => {
    slack = await startFakeSlack();
    discord = await new FakeDiscord({ token, applicationId: APP }).start();
  });
  afterAll(async () => {
    await slack?.close();
    await discord?.stop();
  });
  const chatEnv = (extra: Record<string, string> = {}, withDiscord = true) =>
    envFor(mkdtempSync(join(tmpdir(), 'dbwarden-chat-')), {
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: slack.signingSecret,
      SLACK_API_URL: slack.apiUrl,
      SLACK_CHANNEL: 'C0TEAM',
      ...(withDiscord
        ? {
            DISCORD_TOKEN: token,
            DISCORD_APPLICATION_ID: APP,
            DISCORD_CHANNEL_ID: CHANNEL,
            DISCORD_API_URL: discord.apiUrl,
          }
        : {}),
      ...extra,
    });

  it('`digest --post` when every channel 5xxs: which refused and why, not a bug', async () => {
    // One-shot verbs try a channel twice (PostPolicy 'brief').
    slack.failNext('chat.postMessage', { status: 500, times: 2 });
    discord.failNext('POST', `/channels/${CHANNEL}/messages`, 500, 50);
    const r = await cli(['digest', '--post'], chatEnv());
    expect(r.out).toContain('Daily digest'); // still printed
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^dbwarden digest: No channel took "Daily digest[^"]*": slack: Slack chat\.postMessage failed: http_500 \(after 2 attempts\); discord: Discord did not take the message: /m,
    );
    expect(r.err).toMatch(
      /→ slack: Slack is failing or cannot be reached \(see status\.slack\.com\); try again later\. discord: Discord or the network is failing/,
    );
    expect(r.err).not.toMatch(BUG);
    for (const text of [r.out, r.err]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(slack.botToken);
    }
  });

  it('`digest --post` when the one channel 5xxs: its own error, with what to do', async () => {
    slack.failNext('chat.postMessage', { status: 503, times: 2 });
    const r = await cli(['digest', '--post'], chatEnv({}, false));
    expect(r.code).toBe(1);
    expect(r.err).toContain('dbwarden digest: Slack chat.postMessage failed: http_503 (after 2 attempts)');
    expect(r.err).toContain(
      '→ Slack is failing or cannot be reached (see status.slack.com); try again later.',
    );
  });

  it('`discord register` with a token Discord refuses names DISCORD_TOKEN, never the token', async () => {
    const wrong = ['MTAx', randomBytes(12).toString('hex'), randomBytes(16).toString('hex')].join('.');
    const r = await cli(['discord', 'register'], chatEnv({ DISCORD_TOKEN: wrong }));
    expect(r.code).toBe(1);
    expect(r.err).toContain('DISCORD_TOKEN: Discord refused the token (401 Unauthorized)');
    expect(r.err).not.toMatch(BUG);
    expect(r.out + r.err).not.toContain(wrong);
    expect(discord.calls.some((c) => c.authorization === `Bot ${wrong}`)).toBe(true);

    const otherApp = await cli(
      ['discord', 'register'],
      chatEnv({ DISCORD_APPLICATION_ID: '100000000000000099' }),
    );
    expect(otherApp.code).toBe(1);
    expect(otherApp.err).toMatch(/Discord refused to register the commands: Missing Access \(HTTP 403\)/);
    expect(otherApp.err).toMatch(/→ Check that DISCORD_APPLICATION_ID is this bot’s application ID/);
  });
});
