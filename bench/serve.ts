/**
 * `serve`'s idle memory as a process manager sees it: `npm run build` first, then the Docker image's own start
 * command (the Dockerfile's CMD, flags included) is spawned against a throwaway PostgreSQL with PORT set, as the
 * image sets it: no chat; Slack (Socket Mode, the fake Slack of test/helpers); Slack, Discord (the fake Discord) and an
 * S3 store (s3rver). Once it answers /readyz and has settled, VmRSS is read from /proc every second; the figure is the
 * median of those reads, the median over BENCH_RUNS runs alternated with an idle `node` under the same flags.
 * Prints figures; asserts nothing. `npm run bench:serve`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startCluster } from '../src/demo/cluster.js';
import { seedDemo } from '../src/demo/seed.js';
import { FakeDiscord } from '../test/helpers/fake-discord.js';
import { startFakeSlack } from '../test/helpers/fake-slack.js';
import { freePort } from '../test/helpers/net.js';
import { startS3Server } from '../test/helpers/s3-server.js';
import { type BenchRow, median, printTable } from './table.js';

/** The image's start command, e.g. ["node", "--flag", "dist/cli.js", "serve"]: what users run is what is measured. */
export function imageCommand(dockerfile = 'Dockerfile'): string[] {
  const line = readFileSync(dockerfile, 'utf8')
    .split('\n')
    .filter((l) => /^CMD\s+\[/.test(l))
    .at(-1);
  if (!line) throw new Error(`${dockerfile} has no CMD in exec form`);
  return JSON.parse(line.replace(/^CMD\s+/, '')) as string[];
}

const status = (pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) / 1024;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start one process, wait until `ready` says so, let it settle, then read its idle and peak RSS (MB). */
async function idleRss(
  argv: string[],
  env: NodeJS.ProcessEnv,
  ready: (child: ChildProcess) => Promise<boolean>,
): Promise<{ idle: number; peak: number; anon: number }> {
  const settleMs = Number(process.env.BENCH_SETTLE_MS ?? 20_000);
  const samples = Number(process.env.BENCH_SAMPLES ?? 10);
  const child = spawn(process.execPath, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const deadline = Date.now() + 60_000;
    while (!(await ready(child))) {
      if (child.exitCode !== null) throw new Error(`${argv.join(' ')} exited early:\n${log}`);
      if (Date.now() > deadline) throw new Error(`${argv.join(' ')} not ready in 60 s:\n${log}`);
      await sleep(250);
    }
    await sleep(settleMs);
    const reads: number[] = [];
    const anon: number[] = [];
    for (let i = 0; i < samples; i++) {
      reads.push(status(child.pid!, 'VmRSS'));
      anon.push(status(child.pid!, 'RssAnon'));
      await sleep(1000);
    }
    return { idle: median(reads), peak: status(child.pid!, 'VmHWM'), anon: median(anon) };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

const mb = (x: number) => `${x.toFixed(0)} MB`;

/** The serve rows of the table: idle RSS with no chat, with Slack, with Slack + Discord + S3. */
export async function bench(): Promise<BenchRow[]> {
  if (!existsSync('dist/cli.js'))
    throw new Error('run `npm run build` first: the benchmark starts dist/cli.js');
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const command = imageCommand();
  const flags = command.slice(1, command.indexOf('dist/cli.js'));
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-bench-serve-'));
  chmodSync(dir, 0o755);
  const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
  const slack = await startFakeSlack();
  const discordToken = ['fake', randomBytes(12).toString('hex'), randomBytes(12).toString('hex')].join('.');
  const discordApp = '100000000000000001';
  const discord = await new FakeDiscord({ token: discordToken, applicationId: discordApp }).start();
  const s3 = await startS3Server();
  try {
    const url = cluster.url('postgres');
    await seedDemo(url);
    const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production' };
    const slackEnv = {
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_APP_TOKEN: slack.appToken,
      SLACK_API_URL: slack.apiUrl,
      SLACK_CHANNEL: 'C0TEAM',
    };
    const cases: { name: string; target: number | null; env: Record<string, string> }[] = [
      { name: 'no chat, file store', target: null, env: {} },
      { name: 'Slack, file store', target: 90, env: slackEnv },
      {
        name: 'Slack, Discord and S3',
        target: 120,
        env: {
          ...slackEnv,
          DISCORD_TOKEN: discordToken,
          DISCORD_APPLICATION_ID: discordApp,
          DISCORD_CHANNEL_ID: '200000000000000001',
          DISCORD_GUILD_ID: '300000000000000001',
          DISCORD_API_URL: discord.apiUrl,
          DBWARDEN_STORE: `s3://${s3.bucket}/bench`,
          S3_ENDPOINT: s3.endpoint,
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: 'true',
        },
      },
    ];
    const idle = new Map<string, number[]>();
    const peak = new Map<string, number[]>();
    const anon = new Map<string, number[]>();
    const record = (name: string, r: { idle: number; peak: number; anon: number }) => {
      idle.set(name, [...(idle.get(name) ?? []), r.idle]);
      peak.set(name, [...(peak.get(name) ?? []), r.peak]);
      anon.set(name, [...(anon.get(name) ?? []), r.anon]);
    };
    for (let run = 0; run < runs; run++) {
      // The floor: node itself, idle, under the same flags.
      record(
        'node',
        await idleRss([command[0]!, ...flags, '-e', 'setInterval(() => {}, 1000)'], base, async () => true),
      );
      for (const c of cases) {
        const port = await freePort();
        const env = {
          ...base,
          DATABASE_URL: url,
          DBWARDEN_STORE: join(dir, `store-${run}-${c.name.replace(/\W+/g, '-')}`),
          DBWARDEN_ENV: 'production',
          PORT: String(port),
          LOG_LEVEL: 'warn',
          ...c.env,
        };
        // Ready: database, store and every chat up (/readyz 200), as a platform's health check waits for.
        const ready = async () =>
          (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200;
        record(c.name, await idleRss(command, env, ready));
      }
    }
    // RSS counts the node binary's pages it touched (file-backed, shared, reclaimable) with its own memory
    // (anonymous): both are shown, the target is on the whole RSS.
    const reference = `node idle ${mb(median(idle.get('node')!))} (private ${mb(median(anon.get('node')!))})`;
    return cases.map((c) => {
      const value = median(idle.get(c.name)!);
      return {
        figure: `\`serve\` idle RSS, ${c.name}`,
        value: `${mb(value)} (private ${mb(median(anon.get(c.name)!))}; start-up peak ${mb(median(peak.get(c.name)!))})`,
        reference,
        target: c.target === null ? '' : `≤ ${c.target} MB`,
        ...(c.target === null ? {} : { met: value <= c.target }),
      };
    });
  } finally {
    await s3.close();
    await discord.stop();
    await slack.close();
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await bench();
  console.log(`start command: ${imageCommand().join(' ')}`);
  printTable(rows);
}
