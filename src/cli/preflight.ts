import { resolve } from 'node:path';
import { renderText } from '../chat/console/render-text.js';
import { echo } from '../core/echo.js';
import { parseDuration } from '../core/format.js';
import type { PendingSql } from '../deploy/pending-sql.js';
import type { Services } from '../main.js';
import { openServices, type Verb } from './verb.js';

export const preflightVerb: Verb = {
  name: 'preflight',
  summary:
    'Before migrations run: check the database is the remembered one, lint pending SQL, back up, warn the team',
  usage: 'dbwarden preflight [--sql FILE…] [--django] [--backup] [--strict] [--timeout 5m] [--json]',
  help: [
    '--sql FILE…   pending migration SQL files (repeat --sql, or list files after it)',
    '--django      ask Django (manage.py in --cwd, run with DBWARDEN_PYTHON) for unapplied migrations',
    '--cwd DIR     the app directory for --django (default: the current directory)',
    '--backup      take a backup even when nothing destructive is pending',
    '--strict      exit non-zero when the database was replaced or emptied, destructive SQL is pending',
    '              without DBWARDEN_ALLOW_DESTRUCTIVE=1, or dbwarden itself failed',
    '--timeout D   give up after D (default 10m); without --strict that still exits 0',
    '--json        print the findings as one JSON object',
    'Without --strict it only warns and always exits 0: dbwarden failing never blocks a deploy.',
    'Exit codes with --strict: 0 go, 3 blocked by findings, 2 database unreachable, 1 dbwarden failed.',
  ],
  options: {
    sql: { type: 'string', multiple: true },
    django: { type: 'boolean' },
    cwd: { type: 'string' },
    backup: { type: 'boolean' },
    strict: { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: [0, 1000],
  async run({ values, positionals, stdout, stderr, env }) {
    const [{ pendingFromDjango, pendingFromFiles }, { PREFLIGHT_EXIT, runPreflight }] = await Promise.all([
      import('../deploy/pending-sql.js'),
      import('../deploy/preflight.js'),
    ]);
    const strict = Boolean(values.strict);
    const timeoutMs = values.timeout === undefined ? 600_000 : parseDuration(String(values.timeout));
    const sqlFiles = [...((values.sql as string[] | undefined) ?? []), ...positionals];
    const say = (text: string) => stderr.write(`dbwarden preflight: ${text}\n`);
    if (timeoutMs === null || timeoutMs <= 0) {
      say('--timeout must be a duration such as 90s or 5m');
      return PREFLIGHT_EXIT.failure;
    }
    if (positionals.length > 0 && !values.sql) {
      say(`unexpected argument ${echo(positionals[0]!)}: SQL files follow --sql`);
      return PREFLIGHT_EXIT.failure;
    }
    // Preflight guards a real deploy: without DATABASE_URL there is nothing to check (and no demo to start).
    if (!env.DATABASE_URL?.trim()) {
      say('DATABASE_URL is not set: nothing to check.');
      return strict ? PREFLIGHT_EXIT.failure : PREFLIGHT_EXIT.ok;
    }
    let services: Services;
    try {
      // stdout carries the report (or --json); without a chat the post goes to stderr.
      services = await openServices({
        env,
        logDestination: stderr,
        consoleOutput: stderr,
      });
    } catch (err) {
      // A bad configuration is dbwarden failing: it stops the deploy only with --strict.
      say((err as Error).message);
      return strict ? PREFLIGHT_EXIT.failure : PREFLIGHT_EXIT.ok;
    }
    const { config } = services;
    try {
      const djangoDir = resolve(String(values.cwd ?? '.'));
      const pending =
        sqlFiles.length > 0 || values.django
          ? async (ms: number): Promise<PendingSql[]> => [
              ...(sqlFiles.length ? await pendingFromFiles(sqlFiles) : []),
              ...(values.django
                ? await pendingFromDjango({
                    python: config.deploy.python,
                    cwd: djangoDir,
                    env,
                    timeoutMs: ms,
                    redact: (s) => services.redact(s),
                  })
                : []),
            ]
          : null;
      const { result, report } = await runPreflight(
        {
          status: () => services.status(),
          store: services.store,
          pending,
          backups: services.backups,
          notifier: services.notifier,
          environment: config.environment,
          guardConfig: services.guardConfig,
          clock: services.clock,
        },
        {
          strict,
          backup: Boolean(values.backup),
          allowDestructive: config.deploy.allowDestructive,
          timeoutMs,
        },
      );
      if (values.json) stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else
        stdout.write(
          `${renderText(report, { color: Boolean((stdout as { isTTY?: boolean }).isTTY), maxLines: 60 })}\n`,
        );
      return result.exitCode;
    } catch (err) {
      say(services.redact((err as Error).message));
      return strict ? PREFLIGHT_EXIT.failure : PREFLIGHT_EXIT.ok;
    } finally {
      await services.close();
    }
  },
};
