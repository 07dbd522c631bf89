import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { BackupFailed, DbwardenError } from '../core/errors.js';
import type { Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';
import { type PgTool, toolEnv } from './pg-tools.js';

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
}

export interface DumpResult {
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  /** pg_dump's stderr (warnings), secrets masked. */
  stderr: string;
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
 * Run pg_dump -Fc and stream its output through SHA-256 into the store: constant memory whatever the size.
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

  const child = spawn(o.pgDump.path, pgDumpArgs(o), {
    env: toolEnv(o.target.libpqEnv()),
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: false,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );
  if (child.pid !== undefined) o.onSpawn?.(child.pid);
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  };
  abort.signal.addEventListener('abort', kill, { once: true });

  const hash = createHash('sha256');
  let bytes = 0;
  let lastProgress = 0;
  const every = o.progressEveryMs ?? 250;
  const failure = (exit: Awaited<typeof exited>): BackupFailed => {
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
  // The hash runs in the stream; its flush waits for pg_dump's exit so the store never commits a failed dump.
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      const now = performance.now();
      if (now - lastProgress >= every) {
        lastProgress = now;
        o.onProgress?.(bytes, now - started);
      }
      cb(null, chunk);
    },
    flush(cb) {
      exited.then((exit) => cb(exit.code === 0 ? null : failure(exit)));
    },
  });

  // pg_dump may end before the store starts reading (it creates directories first): the store's pipeline
  // still sees the stored error, but it must not surface as an uncaught 'error' event meanwhile.
  meter.on('error', () => {});
  try {
    await o.store.put(o.key, child.stdout.pipe(meter), { signal: abort.signal });
    const exit = await exited;
    if (exit.code !== 0) throw failure(exit);
    if (bytes === 0) throw new BackupFailed('pg_dump produced an empty dump', dumpHint(stderr));
    o.onProgress?.(bytes, performance.now() - started);
    return {
      sizeBytes: bytes,
      sha256: hash.digest('hex'),
      durationMs: Math.round(performance.now() - started),
      stderr: o.target.redact(stderr.trim()),
    };
  } catch (err) {
    kill();
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
