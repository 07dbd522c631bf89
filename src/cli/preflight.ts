import { resolve } from 'node:path';
import { renderText } from '../chat/console/render-text.js';
import type { Config } from '../core/config.js';
import { echo } from '../core/echo.js';
import { asDbwardenError } from '../core/errors.js';
import { parseDuration } from '../core/format.js';
import type { Redactor } from '../core/secrets.js';
import type { PendingSql } from '../deploy/pending-sql.js';
import type { PreflightResult } from '../deploy/preflight-report.js';
import type { Services } from '../main.js';
import { openServices, type Verb } from './verb.js';

export const preflightVerb: Verb = {
  name: 'preflight',
  summary:
    'Before migrations run: check the database is the remembered one, lint pending SQL, back up, warn the team',
  usage:
    'dbwarden preflight [--sql FILE…] [--django] [--remote URL] [--backup] [--strict] [--timeout 10m] [--json]',
  help: [
    '--sql FILE…   pending migration SQL files (repeat --sql, or list files after it)',
    '--django      ask Django (manage.py in --cwd, run with DBWARDEN_PYTHON) for unapplied migrations',
    '--cwd DIR     the app directory for --django (default: the current directory)',
    '--remote URL  let the dbwarden service at URL run the preflight (POST /preflight, token from',
    '              DBWARDEN_API_TOKEN): for deploys without pg_dump or access to the store',
    '--backup      take a backup even when nothing destructive is pending',
    '--strict      exit non-zero when the database was replaced or emptied, destructive SQL is pending',
    '              without DBWARDEN_ALLOW_DESTRUCTIVE=1, or dbwarden itself failed',
    '--timeout D   give up after D (default 10m); without --strict that still exits 0',
    '--json        print the findings as one JSON object',
    'Without DATABASE_URL (and without --remote) the SQL is only linted: no database, backup or post.',
    'Without --strict it only warns and always exits 0: dbwarden failing never blocks a deploy.',
    'Exit codes with --strict: 0 go, 3 blocked by findings, 2 database unreachable, 1 dbwarden failed.',
  ],
  options: {
    sql: { type: 'string', multiple: true },
    django: { type: 'boolean' },
    cwd: { type: 'string' },
    remote: { type: 'string' },
    backup: { type: 'boolean' },
    strict: { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: [0, 1000],
  async run({ values, positionals, stdout, stderr, env }) {
    const [
      { pendingFromDjango, pendingFromFiles },
      { preflightOn },
      { PREFLIGHT_EXIT },
      { loadConfig, SECRET_VARS },
    ] = await Promise.all([
      import('../deploy/pending-sql.js'),
      import('../deploy/preflight.js'),
      import('../deploy/preflight-report.js'),
      import('../core/config.js'),
    ]);
    const strict = Boolean(values.strict);
    const failed = strict ? PREFLIGHT_EXIT.failure : PREFLIGHT_EXIT.ok;
    const timeoutMs = values.timeout === undefined ? 600_000 : parseDuration(String(values.timeout));
    const sqlFiles = [...((values.sql as string[] | undefined) ?? []), ...positionals];
    const remote = typeof values.remote === 'string' ? values.remote : null;
    const say = (text: string) => stderr.write(`dbwarden preflight: ${text}\n`);
    if (timeoutMs === null || timeoutMs <= 0) {
      say('--timeout must be a duration such as 90s or 5m');
      return PREFLIGHT_EXIT.failure;
    }
    if (positionals.length > 0 && !values.sql) {
      say(`unexpected argument ${echo(positionals[0]!)}: SQL files follow --sql`);
      return PREFLIGHT_EXIT.failure;
    }
    if (remote !== null && !/^https?:\/\/[^\s/]+/.test(remote)) {
      say(
        `--remote must be dbwarden's URL, such as http://dbwarden.railway.internal:8080 (got ${echo(remote)})`,
      );
      return PREFLIGHT_EXIT.failure;
    }
    const lintOnly = remote === null && !env.DATABASE_URL?.trim();
    if (lintOnly && sqlFiles.length === 0 && !values.django) {
      say('DATABASE_URL is not set and no --sql or --django given: nothing to check.');
      return failed;
    }
    const { createRedactor } = await import('../core/secrets.js');
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (err) {
      // A bad configuration is dbwarden failing: it stops the deploy only with --strict.
      say((err as Error).message);
      return failed;
    }
    const pendingOf =
      (redact: Redactor) =>
      async (ms: number): Promise<PendingSql[]> => [
        ...(sqlFiles.length ? await pendingFromFiles(sqlFiles) : []),
        ...(values.django
          ? await pendingFromDjango({
              python: config.deploy.python,
              cwd: resolve(String(values.cwd ?? '.')),
              env,
              timeoutMs: ms,
              redact,
            })
          : []),
      ];
    const asked = sqlFiles.length > 0 || Boolean(values.django);
    const request = {
      strict,
      backup: Boolean(values.backup),
      allowDestructive: config.deploy.allowDestructive,
      timeoutMs,
    };
    const print = (result: PreflightResult, text: string) => {
      if (values.json) stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else stdout.write(`${text}\n`);
    };
    const color = Boolean((stdout as { isTTY?: boolean }).isTTY);

    if (remote !== null) {
      const redact = createRedactor(SECRET_VARS.map((name) => env[name]));
      const token = env.DBWARDEN_API_TOKEN?.trim();
      if (!token) {
        say('--remote needs DBWARDEN_API_TOKEN: the dbwarden service’s token.');
        return failed;
      }
      const { requestRemotePreflight } = await import('../deploy/remote-preflight.js');
      let pending: PendingSql[] = [];
      let pendingError: string | undefined;
      try {
        // The same listing as a local run; a failure travels with the request and is reported as locally.
        if (asked) pending = await pendingOf(redact)(timeoutMs);
      } catch (err) {
        pendingError = redact(asDbwardenError(err).message);
      }
      try {
        const { text, ...result } = await requestRemotePreflight({
          url: remote,
          token,
          pending,
          ...request,
          ...(pendingError ? { pendingError } : {}),
        });
        print(result, text);
        return result.exitCode;
      } catch (err) {
        const e = asDbwardenError(err);
        say(redact(`${e.message}${e.hint ? ` ${e.hint}` : ''}`));
        return failed;
      }
    }

    if (lintOnly) {
      // No database to check, back up or tell: the SQL alone, printed once, nothing posted.
      const { result, report } = await preflightOn(
        null,
        { pending: pendingOf(createRedactor(SECRET_VARS.map((name) => env[name]))), ...request },
        { environment: config.environment, clock: () => new Date() },
      );
      print(result, renderText(report, { color, maxLines: 60 }));
      return result.exitCode;
    }

    let services: Services;
    try {
      // Without a chat, the post is the report: it goes to stdout and is not printed a second time.
      services = await openServices({
        env,
        logDestination: stderr,
        consoleOutput: values.json ? stderr : stdout,
      });
    } catch (err) {
      say((err as Error).message);
      return failed;
    }
    try {
      const { result, report } = await preflightOn(services, {
        pending: asked ? pendingOf(services.redact) : null,
        ...request,
      });
      if (values.json || !(services.notifier.name === 'console' && result.posted))
        print(result, renderText(report, { color, maxLines: 60 }));
      return result.exitCode;
    } catch (err) {
      say(services.redact((err as Error).message));
      return failed;
    } finally {
      await services.close();
    }
  },
};
