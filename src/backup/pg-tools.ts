import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { ToolMissing } from '../core/errors.js';

const run = promisify(execFile);

/** A PostgreSQL client tool found on this machine, with the version it reports. */
export interface PgTool {
  name: 'pg_dump' | 'pg_restore';
  path: string;
  /** e.g. "15.18" */
  version: string;
  major: number;
}

/**
 * Ask a binary its version ("pg_dump (PostgreSQL) 15.18 (Debian …)"); ToolMissing when it cannot run. The answer is
 * remembered for that very file (its inode, size and times; in memory, and in the user's cache directory across runs):
 * each asking is a process start, two per backup, which a one-shot `dbwarden backup` pays before pg_dump can start.
 */
export async function toolVersion(name: PgTool['name'], path: string): Promise<PgTool> {
  const stamp = fileStamp(path);
  const known = stamp ? rememberedVersions().get(path) : undefined;
  if (known && known.stamp === stamp && known.name === name)
    return { name, path, version: known.version, major: known.major };
  const tool = await askVersion(name, path);
  if (stamp) rememberVersion(path, { name, stamp, version: tool.version, major: tool.major });
  return tool;
}

async function askVersion(name: PgTool['name'], path: string): Promise<PgTool> {
  let out: string;
  try {
    out = (await run(path, ['--version'], { timeout: 15_000, env: { PATH: process.env.PATH ?? '' } })).stdout;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ToolMissing(
      code === 'ENOENT'
        ? `${name} not found at ${path}`
        : `${name} at ${path} does not run (${code ?? 'failed'})`,
      installHint(name, null),
    );
  }
  const m = /\b(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(out.replace(/^[^)]*\)/, ''));
  if (!m) throw new ToolMissing(`${path} did not report a ${name} version`, installHint(name, null));
  const major = Number(m[1]);
  // Before PostgreSQL 10 the major version had two parts (9.6).
  const version = m[2] !== undefined ? `${m[1]}.${m[2]}${m[3] !== undefined ? `.${m[3]}` : ''}` : m[1]!;
  return { name, path, version, major: major < 10 && m[2] ? Number(`${m[1]}.${m[2]}`) : major };
}

type Remembered = { name: string; stamp: string; version: string; major: number };

/** Where the versions are kept between runs: $XDG_CACHE_HOME/dbwarden, else ~/.cache/dbwarden (none without a home). */
function versionsFile(): string | null {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(homedir(), '.cache') : '');
  return base ? join(base, 'dbwarden', 'pg-tools.json') : null;
}

let remembered: Map<string, Remembered> | null = null;

function rememberedVersions(): Map<string, Remembered> {
  if (remembered) return remembered;
  remembered = new Map();
  const file = versionsFile();
  try {
    if (file)
      for (const [k, v] of Object.entries(
        JSON.parse(readFileSync(file, 'utf8')) as Record<string, Remembered>,
      ))
        if (
          typeof v?.stamp === 'string' &&
          typeof v.version === 'string' &&
          Number.isFinite(v.major) &&
          v.name
        )
          remembered.set(k, v);
  } catch {
    // No cache yet, or an unreadable one: the versions are asked again.
  }
  return remembered;
}

let writing: Promise<void> = Promise.resolve();

/**
 * Kept for the next run too, written whole then renamed, without the binaries that are gone or changed since; a cache
 * that cannot be written is only slower.
 */
function rememberVersion(path: string, v: Remembered): void {
  const all = rememberedVersions();
  all.set(path, v);
  for (const [p, r] of all) if (fileStamp(p) !== r.stamp) all.delete(p);
  const file = versionsFile();
  if (!file) return;
  const temp = `${file}.${process.pid}`;
  // One write at a time: pg_dump's and pg_restore's versions are often learnt together, and two writes to one temp
  // file could interleave.
  writing = writing
    .then(() => mkdir(join(file, '..'), { recursive: true }))
    .then(() => writeFile(temp, JSON.stringify(Object.fromEntries(all))))
    .then(() => rename(temp, file))
    .catch(() => {});
}

/** What changes when the file at `path` is replaced, upgraded or touched; null when it cannot be read. */
function fileStamp(path: string): string | null {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return null;
  }
}

/**
 * Candidate paths: /usr/lib/postgresql/<N>/bin (Debian keeps old and new side by side), then every PATH entry.
 * Debian's /usr/bin/pg_dump is postgresql-common's pg_wrapper, a Perl script that runs one of those same binaries
 * (~200 ms to start): skipped when they are listed already.
 */
function candidates(name: string): string[] {
  const out: string[] = [];
  const root = '/usr/lib/postgresql';
  if (existsSync(root))
    for (const v of readdirSync(root).filter((d) => /^\d+$/.test(d))) out.push(join(root, v, 'bin', name));
  const versioned = out.some((p) => existsSync(p));
  out.push(...onPath(name));
  const seen = new Set<string>();
  return out.filter((p) => {
    if (!existsSync(p)) return false;
    const real = realpathSync(p);
    if (seen.has(real) || (versioned && real.endsWith('/postgresql-common/pg_wrapper'))) return false;
    seen.add(real);
    return true;
  });
}

/** Every `name` on PATH, in PATH's order. */
function onPath(name: string): string[] {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .filter((p) => existsSync(p));
}

/** The configured binary, else the newest one found. */
export async function findTool(name: PgTool['name'], configured: string | null): Promise<PgTool> {
  if (configured) return toolVersion(name, configured);
  // Asked all at once: each answer is a process start, and a backup waits for this before pg_dump runs.
  const answers = await Promise.allSettled(candidates(name).map((path) => toolVersion(name, path)));
  // A broken candidate is skipped; the error below names the tool if none works.
  const usable = answers
    .flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []))
    .sort((a, b) => b.major - a.major);
  if (usable.length === 0)
    throw new ToolMissing(`${name} was not found on PATH or in /usr/lib/postgresql`, installHint(name, null));
  return usable[0]!;
}

/** Refuse a tool older than the server: pg_dump cannot dump a newer server, pg_restore cannot read a newer archive. */
export function assertNewEnough(
  tool: PgTool,
  serverMajor: number,
  serverVersion: string,
  what: string,
): void {
  if (tool.major >= serverMajor) return;
  throw new ToolMissing(
    `${tool.name} ${tool.version} (${tool.path}) cannot ${what} PostgreSQL ${serverVersion}: it must be version ${serverMajor} or newer`,
    installHint(tool.name, serverMajor),
  );
}

function installHint(name: string, major: number | null): string {
  const pkg = major ? `postgresql-client-${major}` : 'postgresql-client';
  const env = name === 'pg_dump' ? 'PG_DUMP' : 'PG_RESTORE';
  return `Install ${pkg} (Debian/Ubuntu: apt-get install ${pkg}; Alpine: apk add postgresql${major ?? ''}-client; macOS: brew install libpq), or set ${env} to a ${name}${major ? ` ${major}+` : ''} binary.`;
}

/** The minimal environment for a libpq tool: the target's PG* variables, a PATH, and nothing else of ours. */
export function toolEnv(libpq: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (process.env.TZ) env.TZ = process.env.TZ;
  return { ...env, ...libpq };
}

let setpriv: string | null | undefined;

/**
 * How to start a long-running tool so that it dies with dbwarden: on Linux through util-linux's `setpriv
 * --pdeathsig KILL`, which execs the tool in place (same pid, same signals). Without it, a pg_dump writing its own
 * file outlives a dbwarden killed by the OOM killer or SIGKILL, holds its snapshot open, and keeps writing a
 * temporary dump the next backup must take for a live one and leave in place. Where setpriv is missing (macOS,
 * Alpine without util-linux) the tool runs as is.
 */
export function dyingWithUs(path: string, args: string[]): [string, string[]] {
  if (setpriv === undefined) setpriv = process.platform === 'linux' ? (onPath('setpriv')[0] ?? null) : null;
  return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', path, ...args]] : [path, args];
}
