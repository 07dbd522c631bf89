import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { ToolMissing } from '../core/errors.js';

/**
 * A private PostgreSQL cluster in a directory: initdb + pg_ctl, on 127.0.0.1 and a socket in its own folder.
 * The demo database and every test use it. As root it runs the server as an unprivileged user, as PostgreSQL requires.
 */
export interface LocalCluster {
  dir: string;
  port: number;
  /** Superuser URL with password, for the named database (default postgres). */
  url(database?: string): string;
  password: string;
  bin: string;
  majorVersion: number;
  start(): void;
  stop(mode?: 'fast' | 'immediate'): void;
  isRunning(): boolean;
  /** Stop and delete everything. */
  destroy(): void;
}

export interface ClusterOptions {
  /** Data lives here; created if missing. Reused (not re-initialised) when it already holds a cluster. */
  dir: string;
  port?: number;
  /** fsync off: for throwaway test clusters only. */
  fast?: boolean;
  /** Server binaries to use instead of findServerBin()'s (e.g. an older major version for a test). */
  bin?: string;
  /** Shared libraries those binaries need (LD_LIBRARY_PATH), for relocatable builds. */
  libDir?: string;
}

/** Find the server binaries: PG_BIN, then `pg_config --bindir`, then the highest /usr/lib/postgresql/N/bin. */
export function findServerBin(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  try {
    candidates.push(
      execFileSync('pg_config', ['--bindir'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim(),
    );
  } catch {
    // no pg_config on PATH
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(join(root, v, 'bin'));
  }
  for (const c of candidates) if (existsSync(join(c, 'initdb')) && existsSync(join(c, 'pg_ctl'))) return c;
  throw new ToolMissing(
    'PostgreSQL server binaries (initdb, pg_ctl) were not found',
    'Install them (Debian/Ubuntu: sudo apt-get install postgresql), or set PG_BIN to their directory, or set DATABASE_URL to use an existing database.',
  );
}

/** Run as this unprivileged user when we are root: initdb and postgres refuse to run as root. */
function runAsUser(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  return process.env.PG_RUN_AS ?? 'postgres';
}

function run(
  bin: string,
  tool: string,
  args: string[],
  opts: { allowFail?: boolean; libDir?: string | undefined } = {},
): { ok: boolean; output: string } {
  const user = runAsUser();
  const cmd = user ? 'runuser' : join(bin, tool);
  const argv = user ? ['-u', user, '--', join(bin, tool), ...args] : args;
  const r = spawnSync(cmd, argv, {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C', ...(opts.libDir ? { LD_LIBRARY_PATH: opts.libDir } : {}) },
    timeout: 120_000,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const ok = r.status === 0;
  if (!ok && !opts.allowFail)
    throw new Error(`${tool} failed (exit ${r.status ?? r.signal}): ${output.trim().slice(-2000)}`);
  return { ok, output };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function giveToRunUser(path: string): void {
  const user = runAsUser();
  if (!user) return;
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  chownSync(path, uid, gid);
}

/** The server user must be able to walk to its data directory; say so plainly instead of initdb's riddle. */
function assertReachableByRunUser(dir: string): void {
  const user = runAsUser();
  if (!user) return;
  const r = spawnSync('runuser', ['-u', user, '--', 'test', '-w', dir]);
  if (r.status !== 0)
    throw new ToolMissing(
      `PostgreSQL runs as user "${user}", who cannot reach ${dir}`,
      'Make its parent directories traversable (chmod o+x), or point DBWARDEN_STORE somewhere it can reach.',
    );
}

const running = new Set<LocalCluster>();
process.once('exit', () => {
  // Tests may die without their afterAll: never leave a server behind.
  for (const c of running) c.stop('immediate');
});

/** Create (or reuse) and start a cluster in `dir`. */
export async function startCluster(opts: ClusterOptions): Promise<LocalCluster> {
  const bin = opts.bin ?? findServerBin();
  const lib = { libDir: opts.libDir };
  const dir = resolve(opts.dir);
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const passFile = join(dir, 'password');
  const portFile = join(dir, 'port');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  giveToRunUser(dir);
  assertReachableByRunUser(dir);

  let password: string;
  let port: number;
  if (existsSync(join(data, 'PG_VERSION')) && existsSync(passFile)) {
    password = readFileSync(passFile, 'utf8').trim();
    port = opts.port ?? Number(readFileSync(portFile, 'utf8').trim());
  } else {
    rmSync(data, { recursive: true, force: true });
    password = randomBytes(18).toString('base64url');
    port = opts.port ?? (await freePort());
    writeFileSync(passFile, `${password}\n`, { mode: 0o600 });
    giveToRunUser(passFile);
    mkdirSync(sock, { recursive: true });
    giveToRunUser(sock);
    run(
      bin,
      'initdb',
      [
        '-D',
        data,
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--locale=C',
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        `--pwfile=${passFile}`,
        ...(opts.fast ? ['--no-sync'] : []),
      ],
      lib,
    );
  }
  writeFileSync(portFile, `${port}\n`);
  const settings = [
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${sock}'`,
    'max_connections = 40',
    'shared_buffers = 32MB',
    ...(opts.fast ? ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off'] : []),
  ];
  // postgresql.auto.conf is read last, so these win over initdb's defaults; rewritten on every start.
  writeFileSync(join(data, 'postgresql.auto.conf'), `${settings.join('\n')}\n`);
  giveToRunUser(join(data, 'postgresql.auto.conf'));
  const version = Number(readFileSync(join(data, 'PG_VERSION'), 'utf8').trim());

  const cluster: LocalCluster = {
    dir,
    port,
    password,
    bin,
    majorVersion: version,
    url: (database = 'postgres') =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    isRunning: () => run(bin, 'pg_ctl', ['-D', data, 'status'], { allowFail: true, ...lib }).ok,
    start() {
      if (cluster.isRunning()) return;
      run(bin, 'pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start'], lib);
      running.add(cluster);
    },
    stop(mode = 'fast') {
      if (existsSync(join(data, 'postmaster.pid')))
        run(bin, 'pg_ctl', ['-D', data, '-m', mode, '-w', 'stop'], { allowFail: true, ...lib });
      running.delete(cluster);
    },
    destroy() {
      cluster.stop('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}
