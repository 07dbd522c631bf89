import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { eventually } from './net.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How tests start the real entry point from source: node with tsx as a loader (tsx's CLI relays SIGTERM and
 * SIGKILLs soon after), in a fresh empty directory, so the .env and ./.dbwarden the entry point reads from its
 * working directory are never the developer's. `env` is exactly the environment, plus PATH and HOME.
 */
export function cliProcess(
  args: string[],
  env: Record<string, string | undefined>,
): { command: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv } {
  const cwd = mkdtempSync(join(tmpdir(), 'dbwarden-cwd-'));
  chmodSync(cwd, 0o755); // a child run as another user starts there too
  return {
    command: process.execPath,
    args: [
      '--import',
      pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href,
      '--import',
      pathToFileURL(join(root, 'scripts/alias-hooks.mjs')).href,
      join(root, 'src/cli.ts'),
      ...args,
    ],
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TSX_TSCONFIG_PATH: join(root, 'tsconfig.json'),
      ...env,
    },
  };
}

/** A `dbwarden <verb>` process, as a process manager or a terminal starts it, with its output captured. */
export interface SpawnedCli {
  child: ChildProcess;
  /** The fresh directory it runs in. */
  cwd: string;
  /** Everything it printed so far, stdout and stderr interleaved. */
  log(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kill it hard if a test left it running. */
  kill(): void;
}

/**
 * Start the real entry point with exactly `env` (plus PATH and HOME); stdin is a pipe only when asked for, and
 * `user` runs it as another (unprivileged) user, as a container image that is not root does.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
  opts: { stdin?: boolean; user?: { uid: number; gid: number } } = {},
): SpawnedCli {
  const cli = cliProcess(args, env);
  const child = spawn(cli.command, cli.args, {
    cwd: cli.cwd,
    env: cli.env,
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(opts.user ?? {}),
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    cwd: cli.cwd,
    log: () => log,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Wait until a spawned `serve` answers /healthz on `port`; fail at once, with its output, if it exits. */
export async function untilHealthy(p: SpawnedCli, port: number, what = 'serve'): Promise<void> {
  await eventually(
    `${what} to answer /healthz`,
    async () => {
      if (p.child.exitCode !== null) throw new Error(`${what} exited early:\n${p.log()}`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      return res?.status === 200 ? true : undefined;
    },
    60_000,
  );
}
