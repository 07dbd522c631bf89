import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';

/**
 * No Docker engine runs here, so this test reads the Dockerfile and runs its instructions itself: the build
 * stage's COPY and RUN in one temporary directory, the runtime stage's COPY --from, ENV, CMD and HEALTHCHECK in
 * another. Only the runtime stage's apt-get and user set-up are left to Docker (the host has the client tools).
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

const execForm = (args: string): string[] =>
  JSON.parse(args.replace(/^CMD\s+/i, '').replace(/^--\S+\s+/g, ''));

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
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Dockerfile', () => {
  const stages = parseDockerfile(readFileSync('Dockerfile', 'utf8'));

  it('is multi-stage: build with dev dependencies, run as a non-root user with a health check', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', null]);
    const runtime = stages[1]!.steps.map((s) => s.op);
    expect(runtime).toEqual(expect.arrayContaining(['USER', 'EXPOSE', 'HEALTHCHECK', 'CMD', 'VOLUME']));
    expect(stages[1]!.steps.find((s) => s.op === 'USER')?.args).not.toBe('root');
  });

  it('builds, installs production dependencies only, starts and answers its health check', async () => {
    const [build, runtime] = stages as [Stage, Stage];
    const buildDir = join(work, 'build');
    const appDir = join(work, 'app');
    const store = join(work, 'data');
    mkdirSync(store);

    // Build stage: COPY from the repository, RUN each command with sh, as Docker does.
    for (const step of build.steps) {
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

    // Runtime stage: copy what it copies from the build stage, set its ENV.
    const env: Record<string, string> = {};
    let cmd: string[] = [];
    let health: string[] = [];
    for (const step of runtime.steps) {
      if (step.op === 'COPY') {
        const m = /^--from=build\s+(\S+)\s+(\S+)$/.exec(step.args);
        expect(m, `runtime COPY comes from the build stage: ${step.args}`).not.toBeNull();
        copyLike(join(buildDir, m![1]!.replace(/^\/app\/?/, '')), appDir, m![2]!);
      }
      if (step.op === 'ENV') Object.assign(env, envOf(step));
      if (step.op === 'CMD') cmd = execForm(step.args);
      if (step.op === 'HEALTHCHECK') health = execForm(step.args.replace(/^(--\S+\s+)*CMD\s+/, ''));
    }
    // Production only: the compiler and test runner stayed in the build stage.
    expect(() => readFileSync(join(appDir, 'node_modules/typescript/package.json'))).toThrow();
    expect(() => readFileSync(join(appDir, 'node_modules/vitest/package.json'))).toThrow();
    expect(env).toMatchObject({ NODE_ENV: 'production', DBWARDEN_STORE: '/data' });

    const port = await freePort();
    const runEnv = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...env,
      PORT: String(port),
      DBWARDEN_STORE: store,
      DATABASE_URL: db.url,
    };
    expect(cmd[0]).toBe('node');
    const child = spawn(process.execPath, cmd.slice(1), {
      cwd: appDir,
      env: runEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually(
        'the built image to answer its health check',
        () => {
          if (child.exitCode !== null) throw new Error(`exited early:\n${log}`);
          const r = spawnSync(process.execPath, health.slice(1), { env: runEnv });
          return r.status === 0 ? true : undefined;
        },
        60_000,
      );
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 300_000);
});
