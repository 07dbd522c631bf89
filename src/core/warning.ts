/** The guard's findings, and the one both status and the guard show when they cannot see a table. */

/**
 * Why an exact count failed: the role may not read the table, the count took too long, another session holds
 * the table locked, or something else.
 */
export type CountProblem = 'permission-denied' | 'timeout' | 'locked' | 'error';

/** A watched table that could not be counted exactly, and why. */
export interface BlindTable {
  table: string;
  problem: CountProblem;
}

/** Every warning the guard can raise; stable: chat threads, metrics and docs use them. */
export const WARNING_CODES = [
  'database-replaced',
  'database-emptied',
  'rows-dropped',
  'table-missing',
  'unreachable',
  'recovered',
  'backup-failed',
  'backup-stale',
  'backup-unverified',
  'backup-shrunk',
  'not-production-database',
  'guard-blind',
  'store-failing',
] as const;

export type WarningCode = (typeof WARNING_CODES)[number];

/**
 * Warnings about the data itself: they keep the guard's baseline where it was until they clear or are accepted
 * (`dbwarden accept`, or the Accept button on the warning).
 */
export const DATA_LOSS: ReadonlySet<WarningCode> = new Set([
  'database-replaced',
  'database-emptied',
  'rows-dropped',
  'table-missing',
]);

/** The newest good backup from before the change, and the command that brings it back. */
export interface WayBack {
  backupId: string;
  takenAt: string;
  sizeBytes: number;
  command: string;
}

export interface Warning {
  code: WarningCode;
  /** "ok" only for `recovered`, which reports that a warning cleared. */
  level: 'ok' | 'warn' | 'critical';
  title: string;
  /** Plain sentences a tired person understands at 3 am. */
  message: string;
  /** One line per table or backup concerned. */
  details: string[];
  /** What to do now. */
  hint: string;
  wayBack: WayBack | null;
}

/** A quoted SQL identifier unless it is a plain lower-case name (and not a common reserved word). */
/** A SQL identifier as a person would type it: bare when safe, quoted otherwise. */
function sqlIdent(s: string): string {
  const reserved =
    /^(all|analyse|analyze|and|any|array|as|asc|check|column|constraint|create|default|desc|distinct|do|else|end|for|foreign|from|grant|group|having|in|into|limit|not|null|offset|on|only|or|order|primary|references|select|some|table|to|union|unique|user|using|when|where|window|with)$/;
  return /^[a-z_][a-z0-9_$]*$/.test(s) && !reserved.test(s) ? s : `"${s.replace(/"/g, '""')}"`;
}

const PROBLEM_TEXT: Record<BlindTable['problem'], string> = {
  'permission-denied': 'permission denied',
  timeout: 'count(*) timed out (slow, not forbidden)',
  locked: 'locked by another session (a migration or a long transaction)',
  error: 'count(*) failed',
};

/**
 * guard-blind: watched tables that could not be counted exactly, so vanishing rows there would go unseen.
 * Critical when the role may not read them (that never fixes itself), a warning when counting was merely slow.
 * Used by status and by the guard, so both say the same thing. Pure.
 */
export function blindWarning(
  blind: BlindTable[],
  ctx: { targetName: string; role: string | null; serverVersionNum: number | null },
): Warning | null {
  if (blind.length === 0) return null;
  const denied = blind.filter((b) => b.problem === 'permission-denied').map((b) => b.table);
  const names = (ts: string[]) => `${ts.slice(0, 5).join(', ')}${ts.length > 5 ? ', …' : ''}`;
  const role = sqlIdent(ctx.role ?? 'dbwarden');
  const qualifiedIdent = (t: string) => {
    const dot = t.indexOf('.');
    return `${sqlIdent(t.slice(0, dot))}.${sqlIdent(t.slice(dot + 1))}`;
  };
  let hint: string;
  if (denied.length > 0) {
    const grant = `GRANT SELECT ON ${denied.map(qualifiedIdent).join(', ')} TO ${role};`;
    hint =
      ctx.serverVersionNum !== null && ctx.serverVersionNum < 140000
        ? `As the tables' owner run \`${grant}\` PostgreSQL ${Math.floor(ctx.serverVersionNum / 10000)} has no pg_read_all_data: to cover tables created later too, see "PostgreSQL 13" in docs/deploy.md (GRANT SELECT ON ALL TABLES IN SCHEMA … and ALTER DEFAULT PRIVILEGES …).`
        : `As the tables' owner run \`${grant}\`, or for every table now and later \`GRANT pg_read_all_data TO ${role};\`.`;
  } else if (blind.every((b) => b.problem === 'locked'))
    hint =
      'Nothing to grant: another session holds a lock on it (a migration, VACUUM FULL, LOCK TABLE or a long ' +
      'transaction; pg_locks shows which). It is counted again on the next reading once the lock is gone.';
  else
    hint =
      'Nothing to grant: counting took longer than the count timeout. Watch tables that count in a few seconds ' +
      '(DBWARDEN_WATCH_TABLES); the guard compares only exact counts.';
  const why =
    denied.length > 0
      ? `role ${role} may not read ${denied.length < blind.length ? names(denied) : denied.length === 1 ? 'it' : 'them'}`
      : blind.every((b) => b.problem === 'locked')
        ? 'another session holds it locked'
        : 'counting them took too long';
  return {
    code: 'guard-blind',
    level: denied.length > 0 ? 'critical' : 'warn',
    title:
      blind.length === 1 ? 'Guard blind to a watched table' : `Guard blind to ${blind.length} watched tables`,
    message: `dbwarden cannot count ${names(blind.map((b) => b.table))} of ${ctx.targetName} exactly (${why}), so rows vanishing there would go unnoticed.`,
    details: blind.map((b) => `${b.table}: ${PROBLEM_TEXT[b.problem]}`),
    hint,
    wayBack: null,
  };
}
