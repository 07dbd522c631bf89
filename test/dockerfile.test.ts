import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';
import { QUIET_SCHEDULE } from './helpers/serve.js';

/**
 * No Docker engine runs here, so this test reads the Dockerfile and runs its instructions itself: the build
 * stage's COPY and RUN in one temporary directory, the runtime stage's COPY, ENV, ENTRYPOINT, CMD and
 * HEALTHCHECK in another. The runtime stage's RUNs (apt-get, the user, the symlink) are left to Docker: the host
 * has the client tools, and the user the entrypoint drops to is "nobody" (this machine has no "node" user).
 */
interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string | null;
  steps: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM')
      stages.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? null, steps: [] });
    else stages.at(-1)?.steps.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

const execForm = (args: string): string[] => JSON.parse(args.replace(/^CMD\s+/i, ''));

function envOf(step: Instruction): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of step.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  return env;
}

/** Docker's COPY: a destination ending in "/" (or ".") is a directory the source goes into, by its own name. */
function copyLike(src: string, base: string, dest: string): void {
  const into = dest.endsWith('/') || dest === '.';
  cpSync(src, into ? join(base, dest, basename(src)) : join(base, dest), { recursive: true });
}

const db = useTestCluster();
const work = mkdtempSync(join(tmpdir(), 'dbwarden-docker-'));
// The unprivileged user must reach the app copied in here (mkdtemp makes 0700 directories).
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const stages = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** The image as this test builds it: the app directory, the runtime ENV, ENTRYPOINT, CMD and health check. */
interface Image {
  appDir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  health: string[];
}

let image: Promise<Image> | null = null;
/** Build once (the build stage's npm ci and tsc take a while), for every test below. */
const built = () => {
  image ??= build();
  return image;
};

async function build(): Promise<Image> {
  const [buildStage, runtime] = stages as [Stage, Stage];
  const buildDir = join(work, 'build');
  const appDir = join(work, 'app');
  // The files the image gives a path of its own (the entrypoint) land here.
  const rootfs = join(work, 'rootfs');

  // Build stage: COPY from the repository, RUN each command with sh, as Docker does.
  for (const step of buildStage.steps) {
    if (step.op === 'WORKDIR') mkdirSync(buildDir, { recursive: true });
    if (step.op === 'COPY') {
      const parts = step.args.split(/\s+/);
      const dest = parts.pop()!;
      for (const src of parts)
        cpSync(src, join(buildDir, dest.endsWith('/') || parts.length > 1 ? src : dest), {
          recursive: true,
        });
    }
    if (step.op === 'RUN') {
      const r = spawnSync('sh', ['-c', step.args], {
        cwd: buildDir,
        env: { ...process.env, npm_config_prefer_offline: 'true' },
        encoding: 'utf8',
      });
      expect(r.status, `RUN ${step.args}\n${r.stdout}\n${r.stderr}`).toBe(0);
    }
  }

  // Runtime stage: copy what it copies from the build stage and the repository, set its ENV.
  const img: Image = { appDir, env: {}, entrypoint: [], cmd: [], health: [] };
  const inImage = (path: string) =>
    path.startsWith('/app/') ? join(appDir, path.slice(5)) : join(rootfs, path);
  for (const step of runtime.steps) {
    if (step.op === 'COPY') {
      const fromBuild = /^--from=build\s+(\S+)\s+(\S+)$/.exec(step.args);
      // The build stage's node binary: here, the node running this test (and the build's RUNs) is on PATH.
      if (fromBuild?.[1] === '/usr/local/bin/node') expect(fromBuild[2]).toBe('/usr/local/bin/node');
      else if (fromBuild)
        copyLike(join(buildDir, fromBuild[1]!.replace(/^\/app\/?/, '')), appDir, fromBuild[2]!);
      else {
        const [src, dest, ...rest] = step.args.split(/\s+/);
        expect(rest, `one file per COPY from the context: ${step.args}`).toEqual([]);
        mkdirSync(dirname(inImage(dest!)), { recursive: true });
        cpSync(src!, inImage(dest!));
      }
    }
    if (step.op === 'ENV') Object.assign(img.env, envOf(step));
    if (step.op === 'ENTRYPOINT') img.entrypoint = execForm(step.args).map(inImage);
    if (step.op === 'CMD') img.cmd = execForm(step.args);
    if (step.op === 'HEALTHCHECK') img.health = execForm(step.args.replace(/^(--\S+\s+)*CMD\s+/, ''));
  }
  return img;
}

/** The image's environment plus this test's: its own port and store, the test database, node on PATH. */
const runEnv = (img: Image, extra: Record<string, string>) => ({
  PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
  ...img.env,
  DATABASE_URL: db.url,
  ...extra,
});

const hasIpv6Loopback = Object.values(networkInterfaces()).some((addrs) =>
  addrs?.some((a) => a.family === 'IPv6' && a.address === '::1'),
);

describe('Dockerfile', () => {
  it('is multi-stage: build with dev dependencies, run from an entrypoint that drops root, with a health check', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', null]);
    const runtime = stages[1]!.steps;
    expect(runtime.map((s) => s.op)).toEqual(
      expect.arrayContaining(['ENTRYPOINT', 'EXPOSE', 'HEALTHCHECK', 'CMD']),
    );
    // Railway rejects VOLUME; a USER would start the entrypoint unable to fix a root-owned volume.
    expect(runtime.map((s) => s.op)).not.toContain('VOLUME');
    expect(runtime.map((s) => s.op)).not.toContain('USER');
    // The PostgreSQL client major is a build argument, the newest by default.
    const arg = runtime.find((s) => s.op === 'ARG' && s.args.startsWith('PG_MAJOR='));
    expect(Number(arg?.args.split('=')[1])).toBeGreaterThanOrEqual(18);
    const apt = runtime.find((s) => s.op === 'RUN' && s.args.includes('apt-get'))?.args;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's shell variable, quoted as written
    expect(apt).toContain('"postgresql-client-${PG_MAJOR}"');
  });

  it('sends only the sources to the build: no node_modules, no store, no .env', () => {
    const rules = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).toBe('*');
    const sent = rules.slice(1).map((r) => r.replace(/^!/, '').replace(/\/$/, ''));
    const copied = stages
      .flatMap((s) => s.steps)
      .filter((s) => s.op === 'COPY' && !s.args.startsWith('--from='))
      .flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    // Everything the Dockerfile copies from the context is let through, and nothing else.
    for (const src of copied) expect(sent.some((r) => src === r || src.startsWith(`${r}/`))).toBe(true);
    for (const r of sent) expect(copied.some((src) => src === r || src.startsWith(`${r}/`))).toBe(true);
  });

  it('builds, installs production dependencies only, starts and answers its health check on IPv4 and IPv6', async () => {
    const img = await built();
    // Production only: the compiler, the test runner and tsx stayed in the build stage.
    for (const dev of ['typescript', 'vitest', 'tsx'])
      expect(existsSync(join(img.appDir, 'node_modules', dev, 'package.json')), dev).toBe(false);
    expect(img.env).toMatchObject({ NODE_ENV: 'production', DBWARDEN_STORE: '/data' });
    // The CLI is executable by its shebang (what `dbwarden` on the image's PATH links to).
    const version = spawnSync(join(img.appDir, 'dist/cli.js'), ['--version'], {
      env: runEnv(img, {}),
      encoding: 'utf8',
    });
    expect(version.stdout).toMatch(/^dbwarden \d+\.\d+\.\d+/);

    const store = mkdtempSync(join(work, 'data-'));
    if (isRoot) spawnSync('chown', [`${NOBODY}:${NOBODY}`, store]);
    const port = await freePort();
    const env = runEnv(img, { PORT: String(port), DBWARDEN_STORE: store });
    expect(img.cmd[0]).toBe('node');
    // As a platform that sets its own user starts it: the entrypoint runs the command as is.
    const child = spawn(img.entrypoint[0]!, [...img.entrypoint.slice(1), ...img.cmd], {
      cwd: img.appDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    const run = watch(child);
    try {
      await untilHealthy(img, env, run);
      for (const host of ['127.0.0.1', ...(hasIpv6Loopback ? ['[::1]'] : [])]) {
        const res = await fetch(`http://${host}:${port}/healthz`);
        expect(res.status, host).toBe(200);
      }
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      // Which pg_dump backups will use is named at start.
      expect(run.log()).toMatch(/"pgDump":\{"version":"\d+/);
      child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 300_000);

  it.runIf(isRoot)(
    'started as root with a root-owned /data, drops to the unprivileged user, who writes the first backup there',
    async () => {
      const img = await built();
      const store = mkdtempSync(join(work, 'volume-'));
      expect(statSync(store).uid).toBe(0);
      const port = await freePort();
      const env = runEnv(img, {
        ...QUIET_SCHEDULE,
        PORT: String(port),
        DBWARDEN_STORE: store,
        DBWARDEN_RUN_AS: 'nobody',
        DBWARDEN_BACKUP_CRON: '*/2 * * * * *',
      });
      const child = spawn(img.entrypoint[0]!, [...img.entrypoint.slice(1), ...img.cmd], {
        cwd: img.appDir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const run = watch(child);
      try {
        await untilHealthy(img, env, run);
        // The same process (sh and setpriv exec), now nobody: no root left to a bug in dbwarden.
        const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]!;
        expect(uids.split(/\s+/).map(Number)).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
        const manifest = await eventually(
          'the first scheduled backup in the store',
          () => {
            const dir = join(store, 'backups');
            const json = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.json')) : undefined;
            return json ? join(dir, json) : undefined;
          },
          60_000,
        );
        expect(JSON.parse(readFileSync(manifest, 'utf8'))).toMatchObject({ status: 'complete' });
        for (const path of [store, manifest, manifest.replace(/\.json$/, '.dump')])
          expect(statSync(path).uid, path).toBe(NOBODY);
        child.kill('SIGTERM');
        expect(await run.exited).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
    300_000,
  );

  describe.runIf(isRoot)('the entrypoint alone', () => {
    const entrypoint = resolve('docker/entrypoint.sh');
    const as = (env: Record<string, string>, user?: number) =>
      spawnSync(entrypoint, ['sh', '-c', 'id -u; echo "$HOME"'], {
        env: { PATH: process.env.PATH ?? '', DBWARDEN_RUN_AS: 'nobody', ...env },
        encoding: 'utf8',
        ...(user !== undefined ? { uid: user, gid: user } : {}),
      });

    it("creates a missing store directory for the user it drops to, with that user's HOME", () => {
      const store = join(mkdtempSync(join(work, 'fresh-')), 'data');
      const r = as({ DBWARDEN_STORE: store });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${NOBODY}\n/nonexistent\n`);
      expect(statSync(store).uid).toBe(NOBODY);
    });

    it('leaves an S3 store alone, and runs as is when not started as root', () => {
      expect(as({ DBWARDEN_STORE: 's3://bucket/dbwarden' }).stdout).toMatch(new RegExp(`^${NOBODY}\n`));
      const rootOwned = mkdtempSync(join(work, 'theirs-'));
      const r = as({ DBWARDEN_STORE: rootOwned, HOME: '/tmp' }, NOBODY);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${NOBODY}\n/tmp\n`);
      expect(statSync(rootOwned).uid).toBe(0);
    });
  });
});

/** A started image command: its output so far, its exit code. */
function watch(child: ReturnType<typeof spawn>) {
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { log: () => log, exited, child };
}

/** Wait until the image's own HEALTHCHECK command passes; fail at once, with the output, if serve exits. */
async function untilHealthy(img: Image, env: Record<string, string>, run: ReturnType<typeof watch>) {
  expect(img.health[0]).toBe('node');
  await eventually(
    'the built image to answer its health check',
    () => {
      if (run.child.exitCode !== null) throw new Error(`exited early:\n${run.log()}`);
      const r = spawnSync(process.execPath, img.health.slice(1), { env });
      return r.status === 0 ? true : undefined;
    },
    60_000,
  );
}
