/**
 * Errors users can read. Each has a stable code, a message for a human and a hint on what to do.
 * Adapters render them; nobody sees a stack trace in chat.
 */
export class DbwardenError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
  toJSON(): { code: string; message: string; hint?: string } {
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
  constructor(message: string, hint?: string, code = 'backup-failed') {
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
