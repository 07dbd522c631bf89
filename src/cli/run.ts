import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadDotEnv } from '../core/dotenv.js';
import { echo } from '../core/echo.js';
import { asDbwardenError, ConfigError } from '../core/errors.js';
import { createRedactor } from '../core/secrets.js';
import { acceptVerb } from './accept.js';
import { backupVerb } from './backup.js';
import { backupsVerb } from './backups.js';
import { digestVerb } from './digest.js';
import { discordVerb } from './discord.js';
import { keygenVerb } from './keygen.js';
import { preflightVerb } from './preflight.js';
import { restoreVerb } from './restore.js';
import { serveVerb } from './serve.js';
import { statusVerb } from './status.js';
import { EXIT, type Verb } from './verb.js';
import { verifyVerb } from './verify.js';
import { watchVerb } from './watch.js';

/** Every verb, in the order `dbwarden --help` lists them. */
export const VERBS: Verb[] = [
  serveVerb,
  statusVerb,
  backupVerb,
  backupsVerb,
  verifyVerb,
  restoreVerb,
  keygenVerb,
  preflightVerb,
  watchVerb,
  acceptVerb,
  digestVerb,
  discordVerb,
];

/** The package's version, read from package.json next to src/ or dist/ (no import of the whole manifest). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length));
  return [
    'dbwarden — guards one production PostgreSQL database from chat and the terminal',
    '',
    'Usage: dbwarden <verb> [flags]',
    '',
    ...VERBS.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`),
    '',
    'Run `dbwarden <verb> --help` for a verb’s flags, `dbwarden --version` for the version. Configuration comes from the environment (and .env).',
  ].join('\n');
}

function verbHelp(v: Verb): string {
  return [
    `${v.summary}`,
    '',
    `Usage: ${v.usage}`,
    ...(v.help.length ? ['', ...v.help.map((h) => `  ${h}`)] : []),
    '  --help   this help',
  ].join('\n');
}

/** Run the CLI; returns the exit code (tests call this directly). */
export async function runCli(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv } = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  },
): Promise<number> {
  const [verbName, ...rest] = argv;
  if (verbName === '--version' || verbName === '-v' || verbName === 'version') {
    io.stdout.write(`dbwarden ${version()}\n`);
    return EXIT.ok;
  }
  if (!verbName || verbName === '--help' || verbName === '-h' || verbName === 'help') {
    io.stdout.write(`${mainHelp()}\n`);
    return verbName ? EXIT.ok : EXIT.usage;
  }
  const verb = VERBS.find((v) => v.name === verbName);
  if (!verb) {
    io.stderr.write(`dbwarden: unknown verb "${echo(verbName, 40)}"\n\n${mainHelp()}\n`);
    return EXIT.usage;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...verb.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.stderr.write(`dbwarden ${verb.name}: ${parseArgsProblem(err)}\n\n${verbHelp(verb)}\n`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    io.stdout.write(`${verbHelp(verb)}\n`);
    return EXIT.ok;
  }
  const [min, max] = verb.positionals ?? [0, 0];
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    io.stderr.write(
      `dbwarden ${verb.name}: expected ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}\n\n${verbHelp(verb)}\n`,
    );
    return EXIT.usage;
  }
  try {
    return await verb.run({ values: parsed.values, positionals: parsed.positionals, ...io });
  } catch (err) {
    const e = asDbwardenError(err);
    // Errors may quote the environment: pass them through the redactor before anyone sees them.
    const { SECRET_VARS } = await import('../core/config.js');
    const redact = createRedactor(SECRET_VARS.map((name) => io.env[name]));
    if (parsed.values.json && !(e instanceof ConfigError))
      io.stdout.write(
        `${JSON.stringify({ error: { code: e.code, message: redact(e.message), ...(e.hint ? { hint: redact(e.hint) } : {}) } })}\n`,
      );
    io.stderr.write(
      `dbwarden ${verb.name}: ${redact(e.message)}${e.hint ? `\n  → ${redact(e.hint)}` : ''}\n`,
    );
    return e instanceof ConfigError || e.code === 'usage' ? EXIT.usage : EXIT.failure;
  }
}

/** parseArgs quotes the offending flag (an unknown one twice): each quoted piece is echoed safely and short. */
function parseArgsProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return echo(
    message.replace(/'([^']*)'/g, (_, quoted: string) => `'${echo(quoted, 60)}'`),
    400,
  );
}

/**
 * The executable's run (src/cli.ts): .env, the verb, then exit once its output is flushed. A rejection means
 * runCli's own error handling failed; the executable reports it.
 */
export async function runMain(): Promise<void> {
  loadDotEnv();
  const code = await runCli(process.argv.slice(2));
  // The verb has awaited everything it started: once its output is flushed (pipes are asynchronous on macOS), exit
  // rather than wait for idle sockets and timers to wind down (~0.1 s of every verb).
  const flushed = (s: NodeJS.WriteStream) => new Promise<void>((r) => s.write('', () => r()));
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
