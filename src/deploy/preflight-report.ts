import { formatBytes } from '../core/format.js';
import { type DbIdentity, identityLabel } from '../core/identity.js';
import type { Level, Report, ReportSection } from '../core/report.js';
import type { Finding } from './migration-lint.js';

/** The variable that lets one reviewed destructive deploy through (VARS in core/config.ts). */
export const ALLOW_DESTRUCTIVE = 'DBWARDEN_ALLOW_DESTRUCTIVE';

export interface PreflightOptions {
  /** Exit non-zero when the database was replaced or emptied, destructive SQL is pending unallowed, or dbwarden failed. */
  strict: boolean;
  /** Take a backup even when nothing destructive is pending. */
  backup: boolean;
  /** DBWARDEN_ALLOW_DESTRUCTIVE: destructive SQL does not block --strict. */
  allowDestructive: boolean;
  /** The whole preflight, posting included, ends within this. */
  timeoutMs: number;
}

/** A data-loss warning of the guard, as preflight lists it. */
export interface DataLoss {
  code: string;
  title: string;
  message: string;
  details: string[];
  /** The command that brings the data back, when a backup from before exists. */
  restore: string | null;
}

/** `none`: no database was given (DATABASE_URL unset): the SQL was only linted. */
export type DatabaseState =
  | 'same'
  | 'first-seen'
  | 'replaced'
  | 'emptied'
  | 'unreachable'
  | 'unknown'
  | 'none';

/** What preflight found; `--json` prints it. */
export interface PreflightResult {
  verdict: 'pass' | 'warn' | 'block';
  exitCode: number;
  database: {
    display: string;
    reachable: boolean;
    state: DatabaseState;
    identity: DbIdentity | null;
    remembered: DbIdentity | null;
    /** The guard's data-loss warnings against its baseline: replaced, emptied, rows dropped, table gone. */
    dataLoss: DataLoss[];
  };
  pending: string[];
  findings: Finding[];
  destructive: boolean;
  backup: { id: string; sizeBytes: number; verified: boolean } | null;
  /** Why --strict stops (or would stop) the deploy. */
  blocking: string[];
  /** What went wrong in dbwarden itself (never blocks without --strict). */
  problems: string[];
  posted: boolean;
}

/** Exit codes: 0 pass or warn-only, 3 blocked by findings, 2 database unreachable, 1 dbwarden failed (strict only). */
export const PREFLIGHT_EXIT = { ok: 0, failure: 1, unreachable: 2, blocked: 3 } as const;

const findingLine = (f: Finding) =>
  `${f.source ?? 'sql'}:${f.line} ${f.rule} — ${f.statement.length > 120 ? `${f.statement.slice(0, 119)}…` : f.statement} (${f.why})`;

/** The deploy warning: what will run, what is dangerous about it, and which backup to restore. */
export function preflightReport(r: PreflightResult, opts: PreflightOptions, environment: string): Report {
  const level: Level = r.verdict === 'block' ? 'critical' : r.verdict === 'warn' ? 'warn' : 'ok';
  const sections: ReportSection[] = [];
  if (r.database.state === 'unreachable')
    sections.push({
      title: '🚨 Database unreachable',
      lines: r.blocking.filter((b) => !b.startsWith('Destructive')),
    });
  for (const w of r.database.dataLoss)
    sections.push({
      title: `🚨 ${w.title}`,
      lead: [w.message],
      lines: w.details,
      // The way back is never cut to make room.
      tail: w.restore ? [`Restore: ${w.restore}`] : [],
    });
  const destructive = r.findings.filter((f) => f.severity !== 'risky');
  const risky = r.findings.filter((f) => f.severity === 'risky');
  if (destructive.length)
    sections.push({
      title: 'Destructive statements pending',
      lines: destructive.map(findingLine),
      // How one reviewed deploy gets through is part of the stop, never cut.
      tail: opts.allowDestructive
        ? ['Let through: DBWARDEN_ALLOW_DESTRUCTIVE=1 is set (a person checked them).']
        : r.blocking.some((b) => b.startsWith('Destructive'))
          ? [
              `Checked them and they are meant? Set ${ALLOW_DESTRUCTIVE}=1 for this one deploy (where the preflight runs), then remove it.`,
            ]
          : [],
    });
  if (risky.length) sections.push({ title: 'Risky statements pending', lines: risky.map(findingLine) });
  if (r.problems.length) sections.push({ title: 'dbwarden could not check everything', lines: r.problems });
  // The title follows the exit code: with --strict, dbwarden failing stops the deploy as findings do.
  const outcome =
    opts.strict && r.exitCode !== PREFLIGHT_EXIT.ok
      ? r.verdict === 'block'
        ? 'the deploy is stopped (--strict)'
        : 'the deploy is stopped: dbwarden could not check everything (--strict)'
      : r.verdict === 'block'
        ? 'the deploy goes on (not --strict)'
        : r.verdict === 'warn'
          ? 'the deploy goes on'
          : 'nothing dangerous pending';
  const stateText: Record<DatabaseState, string> = {
    same: 'the one dbwarden remembers',
    'first-seen': 'first seen now: remembered',
    replaced: '🚨 REPLACED',
    emptied: '🚨 EMPTIED',
    unreachable: 'unreachable',
    unknown: 'not checked',
    none: 'no database given (DATABASE_URL unset): the SQL was only linted',
  };
  return {
    title: `Deploy preflight: ${outcome}`,
    level,
    summary:
      r.verdict === 'pass'
        ? `Deploy preflight passed: ${r.pending.length} pending migration(s), nothing destructive.`
        : `Deploy preflight: ${r.blocking[0] ?? r.problems[0] ?? `${r.findings.length} finding(s) in pending migrations`}`,
    fields: [
      { label: 'Database', value: r.database.display || (r.database.state === 'none' ? 'none' : 'unknown') },
      { label: 'Environment', value: environment },
      {
        label: 'Identity',
        value: `${r.database.identity ? identityLabel(r.database.identity) : 'unknown'} (${stateText[r.database.state]})`,
      },
      { label: 'Pending', value: r.pending.length ? r.pending.join(', ') : 'no pending migrations given' },
      {
        label: 'Backup',
        value: r.backup
          ? `${r.backup.id} (${formatBytes(r.backup.sizeBytes)}${r.backup.verified ? ', verified' : ''})`
          : r.destructive || opts.backup
            ? 'none taken'
            : 'not needed',
      },
    ],
    sections,
    ...(r.backup
      ? { footer: `Restore if the migration goes wrong: dbwarden restore ${r.backup.id} --to <database-url>` }
      : {}),
  };
}
