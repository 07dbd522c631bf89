import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { echo } from '../core/echo.js';
import { DbwardenError, ToolMissing } from '../core/errors.js';

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
          `Cannot read ${echo(path, 200)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    }),
  );
}

export interface DjangoOptions {
  /** How to run Python, split on spaces into a command and its arguments (no shell): "python", "poetry run python". */
  python: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  redact: (s: string) => string;
}

/** Unapplied Django migrations and the SQL of each, from Django itself: `showmigrations --plan`, then `sqlmigrate`. */
export async function pendingFromDjango(opts: DjangoOptions): Promise<PendingSql[]> {
  const plan = await manage(opts, ['showmigrations', '--plan']);
  const pending = plan
    .split('\n')
    .map((l) => /^\[ \]\s+([\w.-]+)\.([\w-]+)/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ app: m[1]!, name: m[2]! }));
  const out: PendingSql[] = [];
  // One at a time: sqlmigrate loads the whole project each run, and two cores are all some hosts have.
  for (const m of pending)
    out.push({ source: `${m.app}.${m.name}`, sql: await manage(opts, ['sqlmigrate', m.app, m.name]) });
  return out;
}

function manage(opts: DjangoOptions, args: string[]): Promise<string> {
  const [cmd, ...pre] = opts.python.trim().split(/\s+/);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, 'manage.py', ...args], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
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
          `manage.py ${args[0]} ${signal ? `was stopped after ${Math.round(opts.timeoutMs / 1000)} s` : `failed (exit ${code})`}: ${tail}`,
          'Run it by hand in the app directory to see the full error.',
        ),
      );
    });
  });
}
