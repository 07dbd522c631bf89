import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { type Readable, Transform, type Writable } from 'node:stream';
import { BackupFailed, DbwardenError } from '../core/errors.js';
import type { Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';
import { dyingWithUs, type PgTool, toolEnv } from './pg-tools.js';

export interface DumpOptions {
  pgDump: PgTool;
  target: Target;
  store: BlobStore;
  /** Temporary store key the dump is streamed to. */
  key: string;
  compression: number;
  /** Tables whose data is left out (--exclude-table-data): exact quoted names from core/tables.ts planDump. */
  excludeTables: string[];
  /** An exported snapshot to dump, so row counts and the dump see the same data. */
  snapshot?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called about every `progressEveryMs` with the bytes written so far. */
  onProgress?: (bytes: number, elapsedMs: number) => void;
  progressEveryMs?: number;
  /** The pg_dump process id, as soon as it runs (tests read its /proc entry). */
  onSpawn?: (pid: number) => void;
  /**
   * Opens a side reader fed the dump's bytes, with backpressure, for as long as it reads them (pg_restore --list
   * stops after the table of contents); ended when the dump ends. Opened once pg_dump runs: starting the reader (a
   * process) must not delay the dump.
   */
  tap?: () => Writable;
}

export interface DumpResult {
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  /** pg_dump's own run, start to exit. */
  pgDumpMs: number;
  /** When pg_dump exited (performance.now()): what comes after it is the backup's own time. */
  exitedAt: number;
  /** pg_dump's stderr (warnings), secrets masked. */
  stderr: string;
  /** The SHA-256 was taken reading the stored file back (a file store), not from the stream: no re-read needed. */
  readBack: boolean;
}

const STDERR_KEEP = 8192;

/** The pg_dump argument list: never a password or a connection string (those travel in the environment). */
export function pgDumpArgs(o: Pick<DumpOptions, 'compression' | 'excludeTables' | 'snapshot'>): string[] {
  return [
    '--format=custom',
    `--compress=${o.compression}`,
    '--no-password',
    ...o.excludeTables.map((t) => `--exclude-table-data=${t}`),
    ...(o.snapshot ? [`--snapshot=${o.snapshot}`] : []),
  ];
}

/**
 * Run pg_dump -Fc into the store, memory flat whatever the size. A store that hands out a local file (a directory)
 * gets pg_dump writing that file itself, as a raw `pg_dump -f` does, and hashes it reading it back once; any other
 * store (S3) gets pg_dump's output streamed through SHA-256. The tap is fed the archive either way.
 * On failure, timeout or abort, pg_dump is killed and the temporary object removed.
 */
export async function runPgDump(o: DumpOptions): Promise<DumpResult> {
  const started = performance.now();
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new BackupFailed(`pg_dump ran longer than the backup timeout`, timeoutHint, 'timeout')),
    o.timeoutMs,
  );
  timer.unref();
  // A reason dbwarden gave (shutdown, a user) is kept; a bare abort() reads as a cancellation.
  const onOuterAbort = () =>
    abort.abort(
      o.signal?.reason instanceof DbwardenError
        ? o.signal.reason
        : new BackupFailed('The backup was cancelled', undefined, 'cancelled'),
    );
  if (o.signal?.aborted) onOuterAbort();
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let stderr = '';
  let child: ChildProcess | null = null;
  let exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  let spawnedAt = started;
  let exitedAt = started;
  /** The side reader, once pg_dump runs (set inside start(), hence a holder TypeScript does not narrow). */
  const side: { tap: Tap | null } = { tap: null };
  /** Start pg_dump writing to `file`, or to its stdout when there is none. */
  const start = (file: string | null) => {
    // Into a file, --no-sync: the store syncs it itself (before it is renamed into place) while it reads it back to
    // hash it, rather than pg_dump syncing it first and the read-back waiting for that.
    const output = file ? ['--no-sync', `--file=${file}`] : [];
    const [cmd, args] = dyingWithUs(o.pgDump.path, [...pgDumpArgs(o), ...output]);
    const c = spawn(cmd, args, {
      env: toolEnv(o.target.libpqEnv()),
      stdio: ['ignore', file ? 'ignore' : 'pipe', 'pipe'],
      shell: false,
    });
    child = c;
    spawnedAt = performance.now();
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_KEEP);
    });
    exited = new Promise<Exit>((resolve) => {
      c.once('error', (error) => resolve({ code: null, signal: null, error }));
      c.once('close', (code, signal) => {
        exitedAt = performance.now();
        resolve({ code, signal });
      });
    });
    if (c.pid !== undefined) o.onSpawn?.(c.pid);
    if (abort.signal.aborted) kill();
    else if (o.tap) side.tap = feeder(o.tap());
    return c;
  };
  const kill = () => {
    const c: ChildProcess | null = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 5000).unref();
  };
  abort.signal.addEventListener('abort', kill, { once: true });

  const every = o.progressEveryMs ?? 250;
  const failure = (exit: Exit): BackupFailed => {
    const detail = o.target.redact(stderr.trim()).split('\n').slice(-6).join('\n');
    if (exit.error)
      return new BackupFailed(`pg_dump could not start: ${o.target.redact(exit.error.message)}`);
    const how = exit.signal ? `was killed (${exit.signal})` : `exited with code ${exit.code}`;
    return new BackupFailed(
      `pg_dump ${how}${detail ? `: ${detail}` : ''}`,
      dumpHint(detail),
      'pg-dump-failed',
    );
  };

  try {
    let stored: { size: number; sha256: string };
    const readBack = Boolean(o.store.putFile);
    if (o.store.putFile) {
      stored = await o.store.putFile(
        o.key,
        async (path) => {
          start(path);
          // pg_dump writes the file itself: progress is the file's size.
          const progress = setInterval(() => {
            stat(path).then(
              (s) => o.onProgress?.(s.size, performance.now() - started),
              () => {},
            );
          }, every);
          const exit = await exited.finally(() => clearInterval(progress));
          if (abort.signal.aborted) throw abort.signal.reason;
          if (exit.code !== 0) throw fileError(stderr, path) ?? failure(exit);
          // pg_restore --list reads the table of contents from the file, alongside the store's read-back.
          if (side.tap) await feedFile(path, side.tap);
        },
        { signal: abort.signal },
      );
    } else {
      const out = start(null).stdout as Readable;
      stored = await streamToStore(o, out, exited, failure, side.tap, abort.signal, (bytes) =>
        o.onProgress?.(bytes, performance.now() - started),
      );
    }
    const exit = await exited;
    if (exit.code !== 0) throw failure(exit);
    if (stored.size === 0) throw new BackupFailed('pg_dump produced an empty dump', dumpHint(stderr));
    o.onProgress?.(stored.size, performance.now() - started);
    return {
      sizeBytes: stored.size,
      sha256: stored.sha256,
      durationMs: Math.round(performance.now() - started),
      pgDumpMs: Math.round(exitedAt - spawnedAt),
      exitedAt,
      stderr: o.target.redact(stderr.trim()),
      readBack,
    };
  } catch (err) {
    kill();
    side.tap?.end();
    const exit = await exited;
    await o.store.delete(o.key).catch(() => {});
    if (abort.signal.aborted && abort.signal.reason instanceof Error) throw abort.signal.reason;
    if (err instanceof BackupFailed) throw err;
    if (exit.error) throw failure(exit);
    throw storeFailed(o.store, err);
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/** pg_dump's words for a file it could not write: the OS error, so the store says it as for its own writes. */
const FILE_ERRORS: [RegExp, string][] = [
  [/No space left on device/i, 'ENOSPC'],
  [/Disk quota exceeded/i, 'EDQUOT'],
  [/Read-only file system/i, 'EROFS'],
  [/could not (open|write to) output file.*Permission denied/i, 'EACCES'],
];

function fileError(stderr: string, path: string): NodeJS.ErrnoException | null {
  const hit = FILE_ERRORS.find(([re]) => re.test(stderr));
  return hit ? Object.assign(new Error(`pg_dump could not write ${path}`), { code: hit[1], path }) : null;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };
type Tap = ReturnType<typeof feeder>;

/** pg_dump's stdout through SHA-256 into the store's put; its flush waits for pg_dump so a failed dump never commits. */
async function streamToStore(
  o: DumpOptions,
  out: Readable,
  exited: Promise<Exit>,
  failure: (exit: Exit) => BackupFailed,
  tap: Tap | null,
  signal: AbortSignal,
  onBytes: (bytes: number) => void,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let lastProgress = 0;
  const every = o.progressEveryMs ?? 250;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      const now = performance.now();
      if (now - lastProgress >= every) {
        lastProgress = now;
        onBytes(bytes);
      }
      if (tap) tap.write(chunk, () => cb(null, chunk));
      else cb(null, chunk);
    },
    flush(cb) {
      tap?.end();
      exited.then((exit) => cb(exit.code === 0 ? null : failure(exit)));
    },
  });
  // pg_dump may end before the store starts reading (it creates directories first): the store's pipeline
  // still sees the stored error, but it must not surface as an uncaught 'error' event meanwhile.
  meter.on('error', () => {});
  await o.store.put(o.key, out.pipe(meter), { signal });
  return { size: bytes, sha256: hash.digest('hex') };
}

/**
 * Feed a finished file to a tap, from its start, until the tap stops reading. Resolves once the file is open: the
 * store renames it as soon as it has hashed it, which for a small dump can come before a lazily opened stream opens.
 */
async function feedFile(path: string, tap: Tap): Promise<void> {
  let file: ReadStream;
  try {
    file = (await open(path, 'r')).createReadStream();
  } catch {
    tap.end();
    return;
  }
  file.on('error', () => tap.end());
  file.on('end', () => tap.end());
  file.on('data', (chunk) => {
    file.pause();
    tap.write(chunk as Buffer, () => (tap.gone() ? file.destroy() : file.resume()));
  });
}

/**
 * Feed a side reader (a tap) with backpressure while it reads; once it closes or fails, the dump goes on without it.
 */
function feeder(w: Writable): { write(chunk: Buffer, then: () => void): void; end(): void; gone(): boolean } {
  let gone = false;
  const stop = () => {
    gone = true;
  };
  w.on('error', stop);
  w.on('close', stop);
  return {
    write(chunk, then) {
      if (gone || w.destroyed || w.writableEnded || w.write(chunk)) return then();
      const go = () => {
        w.off('drain', go);
        w.off('close', go);
        w.off('error', go);
        then();
      };
      w.on('drain', go);
      w.on('close', go);
      w.on('error', go);
    },
    end() {
      if (!gone && !w.writableEnded) w.end();
    },
    gone: () => gone || w.destroyed,
  };
}

/**
 * A store that refuses writes (read-only, full, gone): say where, keep the OS reason. A store that already said
 * why (S3 credentials, a directory's permissions) keeps its own message, code and hint.
 */
export function storeFailed(store: BlobStore, err: unknown): BackupFailed {
  if (err instanceof BackupFailed) return err;
  if (err instanceof DbwardenError) return new BackupFailed(err.message, err.hint, err.code);
  const e = err as NodeJS.ErrnoException;
  const why =
    e?.code === 'ENOSPC'
      ? 'no space left'
      : e?.code === 'EACCES' || e?.code === 'EPERM'
        ? 'permission denied'
        : e?.code === 'ENOTDIR'
          ? 'not a directory'
          : e?.code === 'EROFS'
            ? 'read-only file system'
            : (e?.message ?? String(err));
  return new BackupFailed(
    `Could not write the backup to ${store.location}: ${why}`,
    'Check that DBWARDEN_STORE exists, is writable by dbwarden and has free space; older backups are untouched.',
    'store-failed',
  );
}

const timeoutHint =
  'DBWARDEN_BACKUP_TIMEOUT sets how long a backup may run; a growing database may need more time.';

/** What to do about a pg_dump (or row count) error, judged from its message. */
export function dumpHint(stderr: string): string {
  if (/permission denied/i.test(stderr))
    return 'The role in DATABASE_URL may not read every table: grant it SELECT (see the least-privilege role in the README), or exclude the table with DBWARDEN_EXCLUDE_TABLES.';
  if (/server version mismatch|aborting because of server version/i.test(stderr))
    return 'Install a pg_dump as new as the server, or set PG_DUMP to one.';
  if (/password authentication|no password supplied/i.test(stderr))
    return 'Check the password in DATABASE_URL.';
  if (/could not connect|connection to server/i.test(stderr))
    return 'The database stopped answering during the backup; check that it is up and try again.';
  return 'Read pg_dump’s message above; run `dbwarden backup` again once it is fixed.';
}
