/**
 * Errors users can read. Each has a stable code, a message for a human and a hint on what to do.
 * Adapters render them; nobody sees a stack trace in chat.
 */
/** Every error code dbwarden reports: stable, for --json, logs and docs. One closed list, so none is invented ad hoc. */
export const ERROR_CODES = [
  'config',
  'usage',
  'internal',
  'not-authorised',
  'tool-missing',
  'unreachable-dns',
  'unreachable-refused',
  'unreachable-auth',
  'unreachable-timeout',
  'unreachable-no-database',
  'unreachable-tls',
  'unreachable-other',
  'backup-failed',
  'backup-running',
  'cooldown',
  'timeout',
  'cancelled',
  'backup-not-found',
  'backup-ambiguous',
  'pg-dump-failed',
  'dump-incomplete',
  'archive-unreadable',
  'checksum-mismatch',
  'dump-missing',
  'count-failed',
  'drill-failed',
  'drill-is-target',
  'drill-no-scratch',
  'drill-no-identity',
  'drill-running',
  'age-identity-missing',
  'age-wrong-identity',
  'restore-refused',
  'restore-failed',
  'restore-target-unreachable',
  'store-failed',
  'store-unreachable',
  'store-bucket-missing',
  'store-no-credentials',
  'store-credentials-rejected',
  'store-access-denied',
  'store-config',
  'store-error',
  'store-not-found',
  'fs-permission-denied',
  'fs-read-only',
  'fs-full',
  'fs-failed',
  'manifest-damaged',
  'slack-unreachable',
  'slack-call-failed',
  'discord-post-failed',
  'discord-call-failed',
  'chat-post-failed',
  'django-failed',
  'remote-preflight-failed',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class DbwardenError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

/** Bad configuration: every problem listed, no value echoed. */
export class ConfigError extends DbwardenError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      'config',
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      'Fix the variables above in the environment or .env, then start again. See .env.example.',
    );
    this.problems = problems;
  }
}

export type UnreachableKind = 'dns' | 'refused' | 'auth' | 'timeout' | 'no-database' | 'tls' | 'other';

/** The database could not be reached; `kind` tells why, for humans and for the guard. */
export class TargetUnreachable extends DbwardenError {
  readonly kind: UnreachableKind;
  constructor(kind: UnreachableKind, message: string, hint?: string) {
    super(`unreachable-${kind}`, message, hint);
    this.kind = kind;
  }
}

/** A command-line tool (pg_dump, pg_restore, initdb…) is missing or too old. */
export class ToolMissing extends DbwardenError {
  constructor(message: string, hint?: string) {
    super('tool-missing', message, hint);
  }
}

export class BackupFailed extends DbwardenError {
  /** The failed run's backup id (the id of its failed manifest), set when a run failed: what its buttons name. */
  backupId: string | undefined;
  constructor(message: string, hint?: string, code: ErrorCode = 'backup-failed') {
    super(code, message, hint);
  }
}

export class NotAuthorised extends DbwardenError {
  constructor(message: string, hint?: string) {
    super('not-authorised', message, hint);
  }
}

/** Bad command-line or chat arguments. */
export class UsageError extends DbwardenError {
  constructor(message: string, hint?: string) {
    super('usage', message, hint);
  }
}

/** Turn anything thrown into a DbwardenError without leaking internals. */
export function asDbwardenError(err: unknown): DbwardenError {
  if (err instanceof DbwardenError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DbwardenError(
    'internal',
    message,
    'This is a bug in dbwarden if it keeps happening; the logs have details.',
  );
}
