import type { Report } from '../../src/core/report.js';
import { guard } from '../../src/guard/guard.js';
import { warningsReport } from '../../src/guard/warning-report.js';
import { manifest, snapshot } from './fixtures.js';

/** A PostgreSQL identifier at its longest (63 bytes), distinct per `i`. */
export const longName = (i: number) =>
  `t${String(i).padStart(3, '0')}_${'customer_order_line_archive_'.repeat(3)}`.slice(0, 63);

/**
 * The guard's own table-missing warning (and its Report) for `count` tables that vanished since the last
 * snapshot, with the newest good backup as the way back: what the team sees when a schema was dropped.
 */
export function tablesGoneReport(count: number, name: (i: number) => string = (i) => `orders_${i}`): Report {
  const tables = Object.fromEntries(
    Array.from({ length: count }, (_, i) => [
      `public.${name(i)}`,
      { rows: 1000 + i, exact: true, sizeBytes: 8192 },
    ]),
  );
  const before = snapshot({ at: '2026-11-24T10:00:00.000Z', tables });
  const now = new Date('2026-11-24T10:05:00.000Z');
  const warnings = guard({
    previous: before,
    current: { ...before, at: now.toISOString(), tables: {} },
    manifests: [manifest({ id: '20261124T030000000Z-aaaa', startedAt: '2026-11-24T03:00:00.000Z' })],
    config: {
      environment: 'production',
      target: { name: 'app', display: 'postgres://app@db.internal:5432/app', host: 'db.internal' },
      backupMaxAgeMs: 26 * 3_600_000,
      rowsDropPct: 20,
      unreachableChecks: 2,
      drillsConfigured: false,
    },
    now,
  }).filter((w) => w.code === 'table-missing');
  if (warnings.length !== 1) throw new Error('expected one table-missing warning');
  return warningsReport(warnings, {
    target: { name: 'app', environment: 'production', display: 'postgres://app@db.internal:5432/app' },
    timezone: 'UTC',
    now,
  });
}

/** The lines of the report a renderer must never drop: the hint, the way back and its restore command. */
export const WAY_BACK = {
  hint: '→ If a migration dropped it on purpose, run `dbwarden accept`. If not, restore the backup below.',
  wayBack: 'Way back: backup 20261124T030000000Z-aaaa taken',
  command: 'dbwarden restore 20261124T030000000Z-aaaa --to postgres://app@db.internal:5432/app',
};
