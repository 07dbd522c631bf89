import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { echo } from '../core/echo.js';
import { DbwardenError, ToolMissing } from '../core/errors.js';
import { fsReason } from '../core/fs-errors.js';
import { djangoClient } from './django-client.js';

/** SQL a deploy is about to run, with where it came from. */
export interface PendingSql {
  source: string;
  sql: string;
}

/** Plain SQL files (Prisma's migration.sql, a migrations folder's files). */
export async function pendingFromFiles(paths: string[]): Promise<PendingSql[]> {
  return Promise.all(
    paths.map(async (path) => {
      try {
        return { source: echo(path, 200), sql: await readFile(path, 'utf8') };
      } catch (err) {
        throw new DbwardenError(
          'usage',
          `Cannot read the SQL file ${echo(path, 200)}: ${fsReason(err)}`,
          '--sql takes paths of files holding the SQL the deploy will run (e.g. a Prisma migration.sql), not SQL itself.',
        );
      }
    }),
  );
}

export interface DjangoOptions {
  /**
   * How to run Python, split on spaces into a command and its arguments (no shell): "python3", "poetry run python".
   * null: python3, else python (DBWARDEN_PYTHON unset).
   */
  python: string | null;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  redact: (s: string) => string;
}

/** Tried in order when DBWARDEN_PYTHON is unset: Debian and most images name it python3, some only python. */
const DEFAULT_PYTHONS = ['python3', 'python'];

/**
 * Unapplied Django migrations and the SQL of each, from Django itself: the Django client (the file the app's
 * pre-deploy command runs against a remote dbwarden) is run with --pending-json, its source on stdin.
 */
export async function pendingFromDjango(opts: DjangoOptions): Promise<PendingSql[]> {
  const candidates = opts.python ? [opts.python] : DEFAULT_PYTHONS;
  for (const [i, python] of candidates.entries()) {
    try {
      const out = await runClient(opts, python);
      return parsePending(out);
    } catch (err) {
      // Only a missing command moves on to the next candidate; Django failing is the answer.
      if (!(err instanceof ToolMissing) || i === candidates.length - 1) throw err;
    }
  }
  throw new Error('unreachable');
}

function parsePending(out: string): PendingSql[] {
  const list = JSON.parse(out) as { name: string; sql: string }[];
  return list.map((m) => ({ source: m.name, sql: m.sql }));
}

function runClient(opts: DjangoOptions, python: string): Promise<string> {
  const [cmd, ...pre] = python.trim().split(/\s+/);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, '-', '--pending-json'], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A Python that exits before reading its program closes stdin early: that is reported by 'close' below.
    child.stdin.on('error', () => {});
    child.stdin.end(djangoClient());
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new ToolMissing(
              `Cannot run "${cmd}" to ask Django for pending migrations`,
              'Set DBWARDEN_PYTHON to the command that runs your Python (e.g. python3, or "poetry run python").',
            )
          : err,
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const tail = opts.redact(stderr.trim().split('\n').slice(-6).join('\n'));
      reject(
        new DbwardenError(
          'django-failed',
          `Asking Django for unapplied migrations ${signal ? `was stopped after ${Math.round(opts.timeoutMs / 1000)} s` : `failed (exit ${code})`}: ${tail}`,
          'Run `python manage.py migrate --plan` in the app directory to see the full error.',
        ),
      );
    });
  });
}
