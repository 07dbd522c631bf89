import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { BackupFailed } from '../core/errors.js';
import { createRedactor } from '../core/secrets.js';
import { dyingWithUs, type PgTool, toolEnv } from './pg-tools.js';
import { collectEvery, STREAM_COLLECT_BYTES, shrinkHeap } from './young-gc.js';

export interface ArchiveListing {
  /** "schema.table" of every TABLE DATA entry: what the completeness check needs of the table of contents. */
  tableData: string[];
}

/** A line of `pg_restore --list`: "3345; 0 16390 TABLE DATA public orders app". */
const ENTRY = /^\d+;\s+\d+\s+\d+\s+(TABLE DATA|[A-Z][A-Z ]*?)\s+(\S+)\s+(.+?)\s+(\S+)\s*$/;

/**
 * pg_restore's table of contents parsed line by line as it prints: only the table-data names are kept, never the
 * whole text nor the other entries (a schema of thousands of objects lists them all).
 */
function archiveListParser(): { push(text: string): void; end(): ArchiveListing } {
  const tableData: string[] = [];
  let header = false;
  let rest = '';
  const line = (l: string) => {
    if (/^;\s*Archive created at/.test(l)) header = true;
    const m = ENTRY.exec(l);
    if (m && m[1] === 'TABLE DATA') tableData.push(`${m[2]}.${m[3]}`);
  };
  return {
    push(text) {
      const lines = (rest + text).split('\n');
      rest = lines.pop()!;
      for (const l of lines) line(l);
    },
    end() {
      line(rest);
      if (!header)
        throw new BackupFailed(
          'pg_restore --list printed no archive header',
          undefined,
          'archive-unreadable',
        );
      return { tableData };
    },
  };
}

/** Run `pg_restore --list` on an archive stream: proves the dump is a readable custom-format archive. */
export async function listArchive(pgRestore: PgTool, archive: Readable): Promise<ArchiveListing> {
  const lister = startListing(pgRestore);
  archive.on('error', () => {});
  archive.pipe(lister.input);
  try {
    return await lister.listing;
  } finally {
    archive.unpipe(lister.input);
    archive.destroy();
  }
}

/**
 * Start `pg_restore --list` reading an archive written to `input`: the backup feeds it the dump's own stream while
 * pg_dump runs. pg_restore reads the table of contents (at the start of an archive written to a pipe) and exits;
 * `input` then closes, and the writer must stop feeding it (a closed pipe is expected, not an error).
 */
export function startListing(pgRestore: PgTool): { input: Writable; listing: Promise<ArchiveListing> } {
  const child = spawn(pgRestore.path, ['--list'], {
    env: toolEnv({}),
    stdio: ['pipe', 'pipe', 'pipe'],
    shell: false,
  });
  const parser = archiveListParser();
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => parser.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-4096);
  });
  child.stdin.on('error', () => {});
  const listing = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).then((code) => {
    child.stdin.destroy();
    if (code !== 0)
      throw new BackupFailed(
        `pg_restore --list cannot read the dump: ${err.trim().split('\n').slice(-3).join(' ') || `exit ${code}`}`,
        'The dump is damaged or not a pg_dump custom-format archive: take a new backup.',
        'archive-unreadable',
      );
    return parser.end();
  });
  return { input: child.stdin, listing };
}

export interface RestoreIntoOptions {
  /** libpq environment of the database to restore into (password included: never argv). */
  env: Record<string, string>;
  /** Drop the archive's objects before recreating them (pg_restore --clean --if-exists). */
  clean?: boolean;
  signal?: AbortSignal;
}

/** Stream an archive into `pg_restore` without owners or grants; resolves with its warnings, rejects on failure. */
export async function restoreArchive(
  pgRestore: PgTool,
  archive: Readable,
  o: RestoreIntoOptions,
): Promise<{ warnings: string }> {
  const args = ['--no-owner', '--no-acl', '--no-password', '--exit-on-error', `--dbname=${o.env.PGDATABASE}`];
  if (o.clean) args.push('--clean', '--if-exists');
  // A restore cut off halfway must stop with us: its stdin ends, but it may still be applying what it read.
  const child = spawn(...dyingWithUs(pgRestore.path, args), {
    env: toolEnv(o.env),
    stdio: ['pipe', 'ignore', 'pipe'],
    shell: false,
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-8192);
  });
  child.stdin.on('error', () => {});
  archive.on('error', (e) => {
    err += `\nreading the backup failed: ${e.message}`;
    child.kill('SIGTERM');
  });
  const onAbort = () => child.kill('SIGTERM');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // The whole archive passes through node, a fresh buffer per read: collected as it goes, and the young generation
  // given back first (~6 MB of a drill's peak on the 62 MB bench dump).
  shrinkHeap();
  const collect = collectEvery(STREAM_COLLECT_BYTES);
  archive.on('data', (chunk: Buffer) => collect(chunk.length));
  archive.pipe(child.stdin);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  o.signal?.removeEventListener('abort', onAbort);
  archive.destroy();
  // pg_restore's messages may quote its connection; its password never leaves with them.
  const hide = createRedactor([o.env.PGPASSWORD]);
  if (code !== 0)
    throw new BackupFailed(
      `pg_restore failed: ${hide(err.trim().split('\n').slice(-4).join(' ')) || `exit ${code}`}`,
      'Read pg_restore’s message; the database may hold conflicting objects (use a fresh database or --clean).',
      'restore-failed',
    );
  return { warnings: hide(err.trim()) };
}
