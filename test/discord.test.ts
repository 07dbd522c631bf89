import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../src/chat/adapter.js';
import { COMMAND_INFOS } from '../src/chat/command-list.js';
import { type ChatCommand, usageReport } from '../src/chat/commands.js';
import { LEVEL_COLOUR } from '../src/chat/discord/render-discord.js';
import { runCli } from '../src/cli/run.js';
import type { Report } from '../src/core/report.js';
import { seedDemo } from '../src/demo/seed.js';
import type { Services } from '../src/main.js';
import { useTestCluster } from './helpers/cluster.js';
import { APP, CHANNEL, GUILD, useDiscordBot, webhookEdits } from './helpers/discord-bot.js';
import type { FakeDiscord } from './helpers/fake-discord.js';
import { cliProcess, spawnCli } from './helpers/spawn-cli.js';

const db = useTestCluster();
const harness = useDiscordBot(db);
const TOKEN = harness.token;
const WRONG_TOKEN = ['wrong', randomBytes(16).toString('hex')].join('.');
const env = harness.env;
const startBot = harness.start;
const stopAll = harness.stopAll;
let fake: FakeDiscord;
/** The bot the channel-post and gateway tests share. */
let sharedBot: { bot: ChatAdapter; services: Services } | null = null;

beforeAll(async () => {
  fake = harness.fake;
  await seedDemo(db.url);
});

describe('Discord bot against a fake Discord', () => {
  it('registers guild commands once, and global commands without a guild', async () => {
    const guildRoute = `/applications/${APP}/guilds/${GUILD}/commands`;
    await startBot();
    await stopAll();
    const puts = () => fake.calls.filter((c) => c.method === 'PUT' && c.path === guildRoute);
    expect(puts()).toHaveLength(1);
    const names = fake.commands.get(GUILD)!.map((c) => c.name);
    expect(names).toContain('db-status');
    expect(names).toContain('db-digest');
    expect(names).not.toContain('digest');
    const dbStatus = puts()[0]!.body.find((c: { name: string }) => c.name === 'db-status');
    expect(dbStatus.options).toEqual([expect.objectContaining({ name: 'me', type: 5 })]);
    // Servers only: no DMs, where there is no member and no roles to authorise by.
    expect(dbStatus.contexts).toEqual([0]);

    // A restart with the same definitions reads and leaves them alone.
    await startBot();
    await stopAll();
    expect(fake.calls.filter((c) => c.method === 'GET' && c.path === guildRoute)).toHaveLength(2);
    expect(puts()).toHaveLength(1);
    expect(fake.identifies).toBe(2);

    // Someone changed a definition on Discord's side: the next start puts ours back.
    fake.commands.get(GUILD)![0]!.description = 'edited elsewhere';
    await startBot();
    await stopAll();
    expect(puts()).toHaveLength(2);

    await startBot({ env: { DISCORD_GUILD_ID: undefined } });
    await stopAll();
    expect(
      fake.calls.filter((c) => c.method === 'PUT' && c.path === `/applications/${APP}/commands`),
    ).toHaveLength(1);
    expect(fake.commands.get('global')!.map((c) => c.name)).toEqual(names);
  });

  it('registers on demand with `dbwarden discord register`', async () => {
    const run = async () => {
      const stdout = new PassThrough();
      let out = '';
      stdout.on('data', (d) => (out += d));
      const code = await runCli(['discord', 'register'], {
        stdout,
        stderr: new PassThrough(),
        env: env({ DISCORD_GUILD_ID: '300000000000000777' }),
      });
      return { code, out };
    };
    const first = await run();
    const names = fake.commands.get('300000000000000777')!.map((c) => `/${c.name}`);
    expect(names).toContain('/db-status');
    expect(first).toEqual({ code: 0, out: `Registered ${names.join(', ')} in guild 300000000000000777\n` });
    expect(await run()).toEqual({
      code: 0,
      out: `Already up to date: ${names.join(', ')} in guild 300000000000000777\n`,
    });
  });

  it('`dbwarden discord register` needs no database: without DATABASE_URL it starts none', async () => {
    const guild = '300000000000000778';
    const p = spawnCli(['discord', 'register'], {
      ...(env({ DISCORD_GUILD_ID: guild, LOG_LEVEL: 'warn' }) as Record<string, string>),
      DATABASE_URL: '',
      DBWARDEN_STORE: '',
    });
    const { code } = await p.exited;
    expect(p.log()).toMatch(new RegExp(`^Registered /db-status, .* in guild ${guild}\\n$`));
    expect(code).toBe(0);
    // The demo database would have been created in the working directory.
    expect(readdirSync(p.cwd)).toEqual([]);
    // Every command the bot serves, with its own options.
    const registered = fake.commands.get(guild)!;
    expect(registered.map((c) => c.name)).toEqual(COMMAND_INFOS.map((c) => c.name));
    expect(registered.find((c) => c.name === 'db-status')!.options).toEqual([
      expect.objectContaining({ name: 'me', type: 5 }),
    ]);
  });

  it('the command list registering uses is the one the bot serves', async () => {
    const { services } = await startBot();
    try {
      expect(COMMAND_INFOS).toEqual(
        services.commands.map(({ name, description, usage }) => ({ name, description, usage })),
      );
    } finally {
      await stopAll();
    }
  });

  it('answers /db-status: deferred at once, then edited with the status embed', async () => {
    const { bot, services } = await startBot();
    expect(bot.connected()).toBe(true);
    const level = (await services.statusReport()).level;
    const { id, token } = fake.sendCommand({ name: 'db-status' });
    const edit = await fake.waitForCall(webhookEdits(token));
    const callback = fake.calls.find((c) => c.path === `/interactions/${id}/${token}/callback`)!;
    expect(callback.body).toEqual({ type: 5, data: { flags: 0 } });
    expect(fake.calls.indexOf(callback)).toBeLessThan(fake.calls.indexOf(edit));
    const [embed] = edit.body.embeds;
    expect(embed.title).toBe('production · app');
    expect(embed.color).toBe(LEVEL_COLOUR[level]);
    expect(embed.footer.text).toMatch(/^production · checked /);
    const field = (name: string) => embed.fields.find((f: { name: string }) => f.name === name)?.value;
    expect(field('Reachable')).toBe('yes');
    expect(field('Database')).toBe(`postgres://postgres@127.0.0.1:${db.port}/app`);
    expect(embed.description).toContain('auth\\_user: 40 rows');
  });

  it('answers /db-status me privately', async () => {
    const { id, token } = fake.sendCommand({
      name: 'db-status',
      options: [{ name: 'me', type: 5, value: true }],
    });
    await fake.waitForCall(webhookEdits(token));
    const callback = fake.calls.find((c) => c.path === `/interactions/${id}/${token}/callback`)!;
    expect(callback.body).toEqual({ type: 5, data: { flags: 64 } });
  });

  it('tells why the database is unreachable, without a stack trace', async () => {
    await stopAll();
    const closed = new URL(db.url);
    closed.port = '1';
    await startBot({ env: { DATABASE_URL: closed.toString(), DBWARDEN_CONNECT_TIMEOUT: '3s' } });
    const { token } = fake.sendCommand({ name: 'db-status' });
    const edit = await fake.waitForCall(webhookEdits(token));
    const [embed] = edit.body.embeds;
    expect(embed.color).toBe(0xe74c3c);
    const reachable = embed.fields.find((f: { name: string }) => f.name === 'Reachable').value;
    expect(reachable).toMatch(/^no: .*refused/i);
    expect(edit.raw).not.toMatch(/\bat .+\.(ts|js):\d+/);
    await stopAll();
  });

  it('delivers a channel post after a 429 and after a 500', async () => {
    const { bot, services } = await startBot();
    sharedBot = { bot, services };
    const path = `/channels/${CHANNEL}/messages`;
    const before = fake.calls.filter((c) => c.path === path).length;
    fake.failNext('POST', path, 429, 1, 0.3);
    await services.notifier.post(report('Nightly digest', 'all good'));
    fake.failNext('POST', path, 500, 4);
    await services.notifier.post(report('Backup finished', 'backup 42 stored'));
    const posts = fake.calls.filter((c) => c.path === path).slice(before);
    // 1 rate-limited + 1 delivered, then 4 server errors + 1 delivered.
    expect(posts).toHaveLength(7);
    expect(posts[1]!.body.embeds[0].title).toBe('Nightly digest');
    expect(posts[6]!.body.content).toBe('backup 42 stored');
    expect(posts[6]!.body.allowed_mentions).toEqual({ parse: [] });
  });

  it('rejects, and logs, a channel post Discord refuses', async () => {
    const { services } = sharedBot!;
    fake.failNext('POST', `/channels/${CHANNEL}/messages`, 500, 100);
    await expect(services.notifier.post(report('Lost', 'never arrives'))).rejects.toThrow(
      /Discord did not take/,
    );
    expect(harness.logs).toContain('discord: post failed');
    // Clear the remaining injected failures for the next tests.
    fake.failNext('POST', `/channels/${CHANNEL}/messages`, 500, 0);
  });

  it('survives gateway drops: resumes, posts over REST meanwhile, and answers commands after', async () => {
    const { bot, services } = sharedBot!;
    const resumes = fake.resumes;
    fake.pauseGateway();
    fake.drop({ code: 4000 });
    await waitUntil(() => !bot.connected());
    await services.notifier.post(report('During the outage', 'posted while the gateway was down'));
    expect(bot.connected()).toBe(false);
    expect(fake.calls.at(-1)!.body.content).toBe('posted while the gateway was down');
    fake.unpauseGateway();
    await fake.waitForSession(() => fake.resumes === resumes + 1);
    await waitUntil(() => bot.connected());
    const { token } = fake.sendCommand({ name: 'db-status' });
    await fake.waitForCall(webhookEdits(token));

    // A normal close means "start over": a new IDENTIFY, still no restart of dbwarden.
    const identifies = fake.identifies;
    fake.drop({ code: 1000 });
    await fake.waitForSession(() => fake.identifies === identifies + 1);
    const again = fake.sendCommand({ name: 'db-status' });
    await fake.waitForCall(webhookEdits(again.token));
  });

  it('starts while Discord cannot be reached: posts over REST, and logs in once it can', async () => {
    await stopAll();
    const identifies = fake.identifies;
    // Every try of the first login fails (the REST client tries 4 times); the second login gets through.
    fake.failNext('GET', '/gateway/bot', 500, 4);
    const { bot, services } = await startBot();
    expect(bot.connected()).toBe(false);
    await services.notifier.post(report('Started offline', 'posted before the gateway was up'));
    expect(fake.calls.at(-1)!.body.content).toBe('posted before the gateway was up');
    await fake.waitForSession(() => fake.identifies === identifies + 1);
    await waitUntil(() => bot.connected());
    const { token } = fake.sendCommand({ name: 'db-status' });
    await fake.waitForCall(webhookEdits(token));
    expect(harness.logs).toContain('could not connect to the gateway; retrying');
    await stopAll();
  });

  it('refuses to start with a token Discord rejects, saying so without the token', async () => {
    const err = await startBot({ env: { DISCORD_TOKEN: WRONG_TOKEN } }).catch((e) => e);
    expect(err.message).toContain('Discord refused the token');
    expect(err.message).not.toContain(WRONG_TOKEN);
  });

  it('dispatches any command generically, posts to the channel past the token life, renders errors', async () => {
    await stopAll();
    let now = Date.now();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const seen: { args: string; roles: string[] | undefined; id: string }[] = [];
    const slow: ChatCommand = {
      name: 'slow-job',
      description: 'A long job that reports progress',
      usage: '[label]',
      // A label with a space is a typo: refused before anything starts.
      check: (args) => (args.includes(' ') ? usageReport(slow, 'takes one word', args) : null),
      async run(args, user, reply) {
        seen.push({ args, roles: user.roles, id: user.id });
        // A failure whose text quotes the password: the redactor must catch it on the way out.
        if (args === 'boom') throw new Error(`kaput, password ${db.password} refused`);
        await reply.update({ ...report('Working', 'working'), progress: { fraction: 0.5, label: 'half' } });
        await gate;
        await reply.update({ ...report('Working', 'working'), progress: { fraction: 0.9, label: 'nearly' } });
        await reply.update(report('Done', `${args} done`));
      },
    };
    await startBot({ extra: [slow], clock: () => now });
    expect(fake.commands.get(GUILD)!.find((c) => c.name === 'slow-job')!.options).toEqual([
      expect.objectContaining({ name: 'args', type: 3 }),
    ]);
    const { token } = fake.sendCommand({
      name: 'slow-job',
      options: [{ name: 'args', type: 3, value: 'nightly' }],
      userId: '500000000000000009',
      roles: ['600000000000000001', '600000000000000002'],
    });
    const first = await fake.waitForCall(webhookEdits(token));
    expect(first.body.embeds[0].description).toContain('50%  half');
    expect(seen[0]).toEqual({
      args: 'nightly',
      roles: ['600000000000000001', '600000000000000002'],
      id: '500000000000000009',
    });
    // Sixteen minutes later the interaction token is dead: the answer becomes a channel message.
    now += 16 * 60_000;
    fake.expireInteractionToken(token);
    const posted = fake.calls.length;
    release();
    // One new message with the progress, then that message edited with the result: no stream of posts.
    const post = await fake.waitForCall(
      (c) => fake.calls.indexOf(c) >= posted && c.path === '/channels/400000000000000001/messages',
    );
    expect(post.body.embeds[0].description).toContain('90%  nearly');
    const final = await fake.waitForCall(
      (c) => c.method === 'PATCH' && c.path.startsWith('/channels/400000000000000001/messages/'),
    );
    expect(final.body.content).toBe('/slow-job: nightly done');
    expect(final.body.embeds[0].title).toBe('Done');
    expect(fake.calls.filter((c) => c.path === '/channels/400000000000000001/messages')).toHaveLength(1);
    expect(fake.calls.filter(webhookEdits(token))).toHaveLength(1);

    const failing = fake.sendCommand({
      name: 'slow-job',
      options: [{ name: 'args', type: 3, value: 'boom' }],
    });
    const edit = await fake.waitForCall(webhookEdits(failing.token));
    expect(edit.body.embeds[0].title).toBe('/slow-job failed');
    expect(edit.body.embeds[0].description).toContain('kaput, password \\*\\*\\* refused');
    expect(edit.raw).not.toMatch(/\bat .+\.(ts|js):\d+/);

    // A usage error goes only to the asker (deferred with the ephemeral flag), as a warning with the usage.
    const started = seen.length;
    const typo = fake.sendCommand({
      name: 'slow-job',
      options: [{ name: 'args', type: 3, value: 'night ly' }],
    });
    const usage = await fake.waitForCall(webhookEdits(typo.token));
    const callback = fake.calls.find((c) => c.path === `/interactions/${typo.id}/${typo.token}/callback`)!;
    expect(callback.body).toEqual({ type: 5, data: { flags: 64 } });
    expect(usage.body.embeds[0].title).toBe('Unknown argument');
    expect(usage.body.embeds[0].color).toBe(LEVEL_COLOUR.warn);
    expect(usage.body.embeds[0].description).toContain('→ Usage: /slow-job [label]');
    expect(seen).toHaveLength(started);
  });

  it('runs under `npm start` (dbwarden serve) when its credentials are set, and stops on SIGTERM', async () => {
    await stopAll();
    const identifies = fake.identifies;
    const cli = cliProcess(['serve'], env({ LOG_LEVEL: 'info' }));
    const child = spawn(cli.command, cli.args, {
      cwd: cli.cwd,
      env: cli.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await fake.waitForSession(() => fake.identifies > identifies, 60_000);
      const { token } = fake.sendCommand({ name: 'db-status' });
      const edit = await fake.waitForCall(webhookEdits(token), 60_000);
      expect(edit.body.embeds[0].description).toContain('auth\\_user: 40 rows');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toContain('discord: connected');
      expect(stderr).not.toContain(TOKEN);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('never sends the bot token or the database password anywhere but the auth header and IDENTIFY', () => {
    expect(fake.calls.length).toBeGreaterThan(20);
    for (const c of fake.calls) {
      for (const text of [c.path, c.query, c.raw]) {
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(db.password);
      }
      expect([undefined, `Bot ${TOKEN}`, `Bot ${WRONG_TOKEN}`]).toContain(c.authorization);
    }
    for (const f of fake.frames) {
      expect(f.raw).not.toContain(db.password);
      if (f.op !== 2 && f.op !== 6) expect(f.raw).not.toContain(TOKEN);
    }
    expect(harness.logs).toContain('discord: command');
    expect(harness.logs).not.toContain(TOKEN);
    expect(harness.logs).not.toContain(db.password);
  });
});

function report(title: string, summary: string): Report {
  return { title, level: 'ok', summary, fields: [{ label: 'What', value: summary }], sections: [] };
}

async function waitUntil(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
