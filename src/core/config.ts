import * as z from 'zod';
import { parseIdentities, parseRecipients } from './age-keys.js';
import { cronLib } from './cron.js';
import { ConfigError } from './errors.js';
import { parseDuration } from './format.js';
import { parsePostgresUrl } from './target.js';

/** One environment variable: its schema, its documentation and whether its value is a secret. */
interface VarSpec {
  schema: z.ZodType;
  doc: string;
  default?: string;
  secret?: boolean;
}

/**
 * A duration from `min` to `max` (e.g. "1s", "5m"). Bounded, so a value never overflows Node's timers
 * (at most 2^31-1 ms, about 24.8 days) and 0 never silently means "no timeout". The range is documented.
 */
const duration = (min: string, max: string) => {
  const lo = parseDuration(min)!;
  const hi = parseDuration(max)!;
  const range = `from ${min} to ${max}`;
  return z
    .string()
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null || ms < lo || ms > hi) {
        ctx.addIssue({ code: 'custom', message: `must be a duration ${range}, such as 90s, 10m, 26h or 7d` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(`${min} to ${max}`);
};

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`);

const percent = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a number from 0 to 100')
  .transform(Number)
  .refine((n) => n > 0 && n <= 100, 'must be a number above 0 and at most 100');

const bool = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .refine(
    (v) => ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''].includes(v),
    'must be 1/0, true/false, yes/no',
  )
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

// Checked by the parser that later connects, so what passes here is what runs; its messages never hold the URL.
const postgresUrl = z.string().superRefine((value, ctx) => {
  try {
    parsePostgresUrl(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/**
 * The schedules' defaults. A test checks them with node-cron, so that a verb started without any cron variable
 * set (a backup, a preflight) does not load node-cron only to accept them.
 */
export const CRON_DEFAULTS = { watch: '*/5 * * * *', backup: '0 3 * * *', digest: '0 9 * * *' } as const;
const defaultCron = new Set<string>(Object.values(CRON_DEFAULTS));

// node-cron's own validator: what passes here is what the scheduler runs. A cron expression is no secret.
const cronExpr = z.string().superRefine((v, ctx) => {
  if (defaultCron.has(v) || cronLib().validate(v)) return;
  let why = '';
  try {
    void cronLib()
      .createTask(v, () => {})
      .destroy();
  } catch (err) {
    why = `: ${(err as Error).message.replace(/ is a invalid /, ' is an invalid ')}`;
  }
  ctx.addIssue({
    code: 'custom',
    message: `must be a valid cron expression (5 or 6 fields, e.g. "0 3 * * *")${why.slice(0, 120)}`,
  });
});

const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Berlin or UTC');

const store = z
  .string()
  .min(1, 'must be a directory path or s3://bucket/prefix')
  .refine(
    (v) => !v.startsWith('s3://') || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v),
    'must be s3://bucket/prefix with a valid bucket name',
  );

/** A list of age keys, or a file of them (read once, at start-up); the message says why, never the value. */
const ageKeys = (parse: (v: string) => string[]) =>
  z.string().transform((value, ctx) => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** Every variable dbwarden reads. The README's configuration table is generated from this list. */
export const VARS = {
  DATABASE_URL: {
    schema: postgresUrl,
    doc: 'The database to guard. Unset: demo mode on a local demo database.',
    secret: true,
  },
  DBWARDEN_ENV: {
    schema: z.string().min(1).max(40),
    default: 'production',
    doc: 'Label shown on every message.',
  },
  DBWARDEN_TARGET_NAME: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,60}$/, 'must be 1-60 letters, digits, dot, dash or underscore'),
    doc: "Short name of the guarded database (default: the database's name).",
  },
  DBWARDEN_STORE: {
    schema: store,
    default: './.dbwarden',
    doc: "Where backups and dbwarden's memory live: a directory, or s3://bucket/prefix.",
  },
  DBWARDEN_WATCH_TABLES: {
    schema: list,
    doc: 'Comma list of tables whose rows are counted exactly (default: the user table and the largest tables, at most 8).',
  },
  DBWARDEN_TIMEZONE: {
    schema: timezone,
    doc: 'Time zone for schedules and times in messages (default: TZ, else UTC).',
  },
  TZ: { schema: timezone, doc: 'Used when DBWARDEN_TIMEZONE is unset.' },
  DBWARDEN_CONNECT_TIMEOUT: {
    schema: duration('1s', '5m'),
    default: '5s',
    doc: 'How long to wait for the database to answer a connection.',
  },
  DBWARDEN_STATEMENT_TIMEOUT: {
    schema: duration('1s', '1h'),
    default: '10s',
    doc: 'Longest a status query may run.',
  },
  LOG_LEVEL: {
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    default: 'info',
    doc: 'trace, debug, info, warn, error, fatal or silent.',
  },

  PG_DUMP: { schema: z.string().min(1), doc: 'Path of the pg_dump to use (default: the newest found).' },
  PG_RESTORE: {
    schema: z.string().min(1),
    doc: 'Path of the pg_restore to use (default: the newest found).',
  },
  DBWARDEN_COMPRESSION: { schema: int(0, 9), default: '6', doc: 'pg_dump compression level, 0-9.' },
  DBWARDEN_EXCLUDE_TABLES: {
    schema: list,
    doc: 'Comma list of table patterns left out of backups (pg_dump --exclude-table-data).',
  },
  DBWARDEN_BACKUP_TIMEOUT: {
    schema: duration('1m', '24h'),
    default: '2h',
    doc: 'A backup running longer is stopped and failed.',
  },
  DBWARDEN_DRILL_URL: {
    schema: postgresUrl,
    secret: true,
    doc: 'Scratch database for restore drills. Unset: a temporary database on the target server, if allowed.',
  },
  DBWARDEN_DRILL_CRON: {
    schema: cronExpr,
    doc: 'When to run a restore drill of the newest backup (e.g. "30 3 * * *"). Unset: no scheduled drills.',
  },
  DBWARDEN_AGE_RECIPIENTS: {
    schema: ageKeys(parseRecipients),
    doc: 'age public keys (age1…, comma or newline separated) or a recipients file: every new backup is encrypted to them (`dbwarden keygen` makes a pair). See Encryption.',
  },
  DBWARDEN_AGE_IDENTITY: {
    schema: ageKeys(parseIdentities),
    secret: true,
    doc: 'age private key (AGE-SECRET-KEY-1…) or a path to its file, for restore and drills of encrypted backups. Keep it off the server that takes backups.',
  },
  DBWARDEN_REQUIRE_ENCRYPTION: {
    schema: bool,
    default: '0',
    doc: 'serve and backup refuse to start without DBWARDEN_AGE_RECIPIENTS: no unencrypted backup is ever written.',
  },
  DBWARDEN_KEEP_DAILY: { schema: int(1, 3650), default: '7', doc: 'Daily backups kept.' },
  DBWARDEN_KEEP_WEEKLY: { schema: int(0, 520), default: '4', doc: 'Weekly backups kept.' },
  DBWARDEN_KEEP_MONTHLY: { schema: int(0, 240), default: '6', doc: 'Monthly backups kept.' },
  S3_ENDPOINT: { schema: z.url(), doc: 'S3-compatible endpoint (R2, MinIO, B2…). Unset: AWS.' },
  S3_FORCE_PATH_STYLE: { schema: bool, doc: 'Use path-style S3 URLs (default: on when S3_ENDPOINT is set).' },
  AWS_REGION: {
    schema: z.string().regex(/^[a-z0-9-]{2,40}$/, 'must be a region name such as eu-central-1 or auto'),
    doc: 'S3 region (default us-east-1; R2: auto; B2: the region in its endpoint, e.g. us-west-004).',
  },
  AWS_ACCESS_KEY_ID: {
    schema: z.string().min(1),
    doc: 'S3 access key, read by the AWS SDK (its other sources work too: AWS_PROFILE, instance roles).',
  },
  AWS_SECRET_ACCESS_KEY: {
    schema: z.string().min(1),
    secret: true,
    doc: 'S3 secret key, read by the AWS SDK.',
  },

  SLACK_BOT_TOKEN: {
    schema: z.string().regex(/^xoxb-/, 'must start with xoxb-'),
    secret: true,
    doc: 'Slack bot token; turns the Slack bot on.',
  },
  SLACK_APP_TOKEN: {
    schema: z.string().regex(/^xapp-/, 'must start with xapp-'),
    secret: true,
    doc: 'Slack app-level token: Socket Mode.',
  },
  SLACK_SIGNING_SECRET: {
    schema: z.string().min(8),
    secret: true,
    doc: 'Slack signing secret: HTTP mode (when no app token).',
  },
  SLACK_CHANNEL: { schema: z.string().min(1), doc: 'Slack channel ID (or #name) for digests and warnings.' },
  SLACK_API_URL: { schema: z.url(), doc: "Slack Web API base URL (default: Slack's own)." },
  DBWARDEN_BACKUP_USERS: {
    schema: list,
    doc: 'Slack user IDs, Discord user or role IDs allowed to run /backup-now, /backup-verify and the buttons that take a backup or accept a change. Unset: anyone may take a backup or drill (/backup-now with a cooldown), and nobody may accept a change from chat (`dbwarden accept` still works).',
  },
  DBWARDEN_BACKUP_COOLDOWN: {
    schema: duration('0s', '24h'),
    default: '10m',
    doc: 'Minimum time between /backup-now runs by users not listed (0s: no cooldown).',
  },

  DISCORD_TOKEN: {
    schema: z.string().min(20),
    secret: true,
    doc: 'Discord bot token; turns the Discord bot on.',
  },
  DISCORD_APPLICATION_ID: {
    schema: z.string().regex(/^\d{5,25}$/, 'must be a numeric ID'),
    doc: 'Discord application ID.',
  },
  DISCORD_CHANNEL_ID: {
    schema: z.string().regex(/^\d{5,25}$/, 'must be a numeric ID'),
    doc: 'Discord channel for digests and warnings.',
  },
  DISCORD_GUILD_ID: {
    schema: z.string().regex(/^\d{5,25}$/, 'must be a numeric ID'),
    doc: 'Register commands in this server only (instant).',
  },
  DISCORD_API_URL: { schema: z.url(), doc: "Discord REST base URL (default: Discord's own)." },

  DBWARDEN_WATCH_CRON: {
    schema: cronExpr,
    default: CRON_DEFAULTS.watch,
    doc: 'How often to check the database for data loss.',
  },
  DBWARDEN_BACKUP_CRON: {
    schema: cronExpr,
    default: CRON_DEFAULTS.backup,
    doc: 'When to take the scheduled backup.',
  },
  DBWARDEN_DIGEST_CRON: {
    schema: cronExpr,
    default: CRON_DEFAULTS.digest,
    doc: 'When to post the daily digest.',
  },
  DBWARDEN_BACKUP_MAX_AGE: {
    schema: duration('1h', '60d'),
    default: '26h',
    doc: 'Newest good backup older than this: backup-stale.',
  },
  DBWARDEN_ROWS_DROP_PCT: {
    schema: percent,
    default: '20',
    doc: "Share of a watched table's rows that may vanish before rows-dropped is critical.",
  },
  DBWARDEN_UNREACHABLE_CHECKS: {
    schema: int(1, 100),
    default: '2',
    doc: 'Failed checks in a row before unreachable is posted.',
  },

  DBWARDEN_PYTHON: {
    schema: z.string().min(1),
    doc: 'Command that runs Python for preflight --django (default: python3, else python).',
  },
  DBWARDEN_ALLOW_DESTRUCTIVE: {
    schema: bool,
    default: '0',
    doc: 'Let preflight --strict pass with destructive migrations pending (set it for one reviewed deploy).',
  },
  DBWARDEN_API_TOKEN: {
    schema: z.string().min(24, 'must be at least 24 characters (e.g. openssl rand -hex 32)'),
    secret: true,
    doc: 'Turns on POST /preflight (remote preflight): clients send Authorization: Bearer <token>.',
  },
  DBWARDEN_WEBHOOK_SECRET: {
    schema: z.string().min(16),
    secret: true,
    doc: 'Secret for deploy webhooks (path token, bearer or HMAC).',
  },
  DBWARDEN_BACKUP_ON_DEPLOY: { schema: bool, default: '0', doc: 'Take a backup when a deploy starts.' },

  PORT: { schema: int(1, 65535), doc: 'HTTP port: health, metrics, webhooks and Slack HTTP mode.' },
  DBWARDEN_SHUTDOWN_GRACE: {
    schema: duration('0s', '1h'),
    default: '30s',
    doc: 'How long a running backup may finish on shutdown (0s: stop it at once).',
  },
} satisfies Record<string, VarSpec>;

type Vars = typeof VARS;
/** Parsed values: a variable with a default in VARS is always present, so no default is written twice. */
type Parsed = {
  [K in keyof Vars]: Vars[K] extends { default: string }
    ? z.output<Vars[K]['schema']>
    : z.output<Vars[K]['schema']> | undefined;
};

/** The validated configuration, read once at start-up. */
export interface Config {
  demo: boolean;
  databaseUrl: string | null;
  environment: string;
  targetName: string | null;
  store: string;
  watchTables: string[] | null;
  timezone: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  backup: {
    pgDump: string | null;
    pgRestore: string | null;
    compression: number;
    excludeTables: string[];
    timeoutMs: number;
    drillUrl: string | null;
    drillCron: string | null;
    keep: { daily: number; weekly: number; monthly: number };
    users: string[];
    cooldownMs: number;
  };
  encryption: {
    /** DBWARDEN_AGE_RECIPIENTS: every new backup is encrypted to these; null: backups are written plain. */
    recipients: string[] | null;
    /** DBWARDEN_AGE_IDENTITY's keys (a secret): what decrypts for restore and drills; null: not configured here. */
    identities: string[] | null;
    /** DBWARDEN_REQUIRE_ENCRYPTION: serve and backup refuse to write a plain backup. */
    required: boolean;
  };
  s3: { endpoint: string | null; forcePathStyle: boolean; region: string | null };
  slack: {
    botToken: string;
    appToken: string | null;
    signingSecret: string | null;
    channel: string | null;
    apiUrl: string | null;
  } | null;
  discord: {
    token: string;
    applicationId: string;
    channelId: string | null;
    guildId: string | null;
    apiUrl: string | null;
  } | null;
  guard: { backupMaxAgeMs: number; rowsDropPct: number; unreachableChecks: number };
  schedule: { watchCron: string; backupCron: string; digestCron: string };
  deploy: {
    /** null: python3, else python. */
    python: string | null;
    allowDestructive: boolean;
    /** DBWARDEN_API_TOKEN: POST /preflight answers only when set. */
    apiToken: string | null;
    webhookSecret: string | null;
    backupOnDeploy: boolean;
  };
  port: number | null;
  shutdownGraceMs: number;
}

/** Names of the variables whose values must never be shown. */
export const SECRET_VARS = Object.entries(VARS)
  .filter(([, spec]) => (spec as VarSpec).secret)
  .map(([name]) => name);

/** Validate the environment; throws one ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const v = {} as Parsed;
  for (const [name, spec] of Object.entries(VARS) as [keyof Vars, VarSpec][]) {
    const raw = env[name];
    const value = raw === undefined || raw.trim() === '' ? spec.default : raw.trim();
    if (value === undefined) continue;
    const result = spec.schema.safeParse(value);
    if (result.success) (v as Record<string, unknown>)[name] = result.data;
    // The message names the variable and the rule, never the value: it may be a secret.
    else problems.push(`${name}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  }

  // Presence, not validity, decides which cross-checks apply: an invalid token is already named above.
  const has = (name: keyof Vars) => Boolean(env[name]?.trim());
  const slackOn = has('SLACK_BOT_TOKEN');
  if (slackOn && !has('SLACK_APP_TOKEN') && !has('SLACK_SIGNING_SECRET'))
    problems.push(
      'SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: one is needed with SLACK_BOT_TOKEN (Socket Mode or HTTP mode)',
    );
  if (!slackOn && (has('SLACK_APP_TOKEN') || has('SLACK_SIGNING_SECRET')))
    problems.push('SLACK_BOT_TOKEN: needed when SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set');
  const discordOn = has('DISCORD_TOKEN');
  if (discordOn && !has('DISCORD_APPLICATION_ID'))
    problems.push('DISCORD_APPLICATION_ID: needed with DISCORD_TOKEN');
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    demo: v.DATABASE_URL === undefined,
    databaseUrl: v.DATABASE_URL ?? null,
    environment: v.DBWARDEN_ENV,
    targetName: v.DBWARDEN_TARGET_NAME ?? null,
    store: v.DBWARDEN_STORE,
    watchTables:
      v.DBWARDEN_WATCH_TABLES && v.DBWARDEN_WATCH_TABLES.length > 0 ? v.DBWARDEN_WATCH_TABLES : null,
    timezone: v.DBWARDEN_TIMEZONE ?? v.TZ ?? 'UTC',
    connectTimeoutMs: v.DBWARDEN_CONNECT_TIMEOUT,
    statementTimeoutMs: v.DBWARDEN_STATEMENT_TIMEOUT,
    logLevel: v.LOG_LEVEL,
    backup: {
      pgDump: v.PG_DUMP ?? null,
      pgRestore: v.PG_RESTORE ?? null,
      compression: v.DBWARDEN_COMPRESSION,
      excludeTables: v.DBWARDEN_EXCLUDE_TABLES ?? [],
      timeoutMs: v.DBWARDEN_BACKUP_TIMEOUT,
      drillUrl: v.DBWARDEN_DRILL_URL ?? null,
      drillCron: v.DBWARDEN_DRILL_CRON ?? null,
      keep: {
        daily: v.DBWARDEN_KEEP_DAILY,
        weekly: v.DBWARDEN_KEEP_WEEKLY,
        monthly: v.DBWARDEN_KEEP_MONTHLY,
      },
      users: v.DBWARDEN_BACKUP_USERS ?? [],
      cooldownMs: v.DBWARDEN_BACKUP_COOLDOWN,
    },
    encryption: {
      recipients: v.DBWARDEN_AGE_RECIPIENTS ?? null,
      identities: v.DBWARDEN_AGE_IDENTITY ?? null,
      required: v.DBWARDEN_REQUIRE_ENCRYPTION,
    },
    s3: {
      endpoint: v.S3_ENDPOINT ?? null,
      forcePathStyle: v.S3_FORCE_PATH_STYLE ?? v.S3_ENDPOINT !== undefined,
      region: v.AWS_REGION ?? null,
    },
    slack: slackOn
      ? {
          botToken: v.SLACK_BOT_TOKEN!,
          appToken: v.SLACK_APP_TOKEN ?? null,
          signingSecret: v.SLACK_SIGNING_SECRET ?? null,
          channel: v.SLACK_CHANNEL ?? null,
          apiUrl: v.SLACK_API_URL ?? null,
        }
      : null,
    discord: discordOn
      ? {
          token: v.DISCORD_TOKEN!,
          applicationId: v.DISCORD_APPLICATION_ID!,
          channelId: v.DISCORD_CHANNEL_ID ?? null,
          guildId: v.DISCORD_GUILD_ID ?? null,
          apiUrl: v.DISCORD_API_URL ?? null,
        }
      : null,
    guard: {
      backupMaxAgeMs: v.DBWARDEN_BACKUP_MAX_AGE,
      rowsDropPct: v.DBWARDEN_ROWS_DROP_PCT,
      unreachableChecks: v.DBWARDEN_UNREACHABLE_CHECKS,
    },
    schedule: {
      watchCron: v.DBWARDEN_WATCH_CRON,
      backupCron: v.DBWARDEN_BACKUP_CRON,
      digestCron: v.DBWARDEN_DIGEST_CRON,
    },
    deploy: {
      python: v.DBWARDEN_PYTHON ?? null,
      allowDestructive: v.DBWARDEN_ALLOW_DESTRUCTIVE,
      apiToken: v.DBWARDEN_API_TOKEN ?? null,
      webhookSecret: v.DBWARDEN_WEBHOOK_SECRET ?? null,
      backupOnDeploy: v.DBWARDEN_BACKUP_ON_DEPLOY,
    },
    port: v.PORT ?? null,
    shutdownGraceMs: v.DBWARDEN_SHUTDOWN_GRACE,
  };
}

/**
 * serve and backup write backups: with DBWARDEN_REQUIRE_ENCRYPTION they refuse to start unless every backup will be
 * encrypted. Other verbs (status, restore, keygen) need no recipients and are not refused; preflight, which fails
 * open, still runs its checks, and its pre-migration backup is refused (a failed backup its report names; --strict
 * fails on it) rather than taken unencrypted.
 */
export function assertEncryptionReady(config: Pick<Config, 'encryption'>): void {
  if (config.encryption.required && !config.encryption.recipients)
    throw new ConfigError([
      'DBWARDEN_AGE_RECIPIENTS: needed when DBWARDEN_REQUIRE_ENCRYPTION is set; without it backups would be written unencrypted (`dbwarden keygen` makes a key pair)',
    ]);
}

/** A variable's documentation with the range its schema enforces (durations), from the schema itself. */
function docOf(s: VarSpec): string {
  return s.schema.description ? `${s.doc} Range: ${s.schema.description}.` : s.doc;
}

/** The README's configuration table, generated from VARS so the two cannot drift. */
export function configTableMarkdown(): string {
  const rows = Object.entries(VARS).map(([name, spec]) => {
    const s = spec as VarSpec;
    return `| \`${name}\` | ${s.default !== undefined ? `\`${s.default}\`` : ''} | ${docOf(s)}${s.secret ? ' *(secret)*' : ''} |`;
  });
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}

/** .env.example, generated from VARS: every variable, commented out, with its default and meaning. */
export function envExample(): string {
  const lines = [
    '# dbwarden configuration. Copy to .env (never commit .env) or set these in your host’s environment.',
    '# Generated from src/core/config.ts by `npm run docs`. Unset variables use the default shown.',
    '',
  ];
  for (const [name, spec] of Object.entries(VARS)) {
    const s = spec as VarSpec;
    lines.push(`# ${docOf(s)}${s.secret ? ' (secret)' : ''}`);
    lines.push(`# ${name}=${s.default ?? ''}`);
    lines.push('');
  }
  return lines.join('\n');
}
