import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/core/snapshot.js';
import { WARNING_CODES } from '../src/core/warning.js';
import { type GuardConfig, type GuardInput, guard } from '../src/guard/guard.js';
import { manifest, snapshot } from './helpers/fixtures.js';

const H = 3_600_000;
const now = new Date('2026-11-24T10:05:00.000Z');
const config: GuardConfig = {
  environment: 'production',
  target: { name: 'app', display: 'postgres://app@db.internal:5432/app', host: 'db.internal' },
  backupMaxAgeMs: 26 * H,
  rowsDropPct: 20,
  unreachableChecks: 2,
  drillsConfigured: false,
};
// Last night's backup, good: the baseline for "no false alarm".
const nightly = manifest({ id: '20261124T030000000Z-aaaa', startedAt: '2026-11-24T03:00:00.000Z' });
const older = manifest({ id: '20261123T030000000Z-bbbb', startedAt: '2026-11-23T03:00:00.000Z' });
const prev = snapshot({ at: '2026-11-24T10:00:00.000Z' });

const withRows = (s: Snapshot, rows: Record<string, number>, at = now.toISOString()): Snapshot => ({
  ...s,
  at,
  tables: Object.fromEntries(
    Object.entries(s.tables).map(([k, t]) => [k, k in rows ? { ...t, rows: rows[k]! } : t]),
  ),
});
const run = (over: Partial<GuardInput> = {}) =>
  guard({
    previous: prev,
    current: withRows(prev, {}),
    manifests: [nightly, older],
    config,
    now,
    ...over,
  });
const codes = (over: Partial<GuardInput> = {}) => run(over).map((w) => w.code);

describe('guard: no false alarms', () => {
  it('is silent on a healthy database with a fresh good backup', () => {
    expect(run()).toEqual([]);
  });
  it('is silent on the first run (nothing to compare with)', () => {
    expect(codes({ previous: null })).toEqual([]);
  });
  it('ignores growth, small falls, falls at the threshold and tiny tables', () => {
    expect(codes({ current: withRows(prev, { 'public.orders': 5000, 'public.auth_user': 41 }) })).toEqual([]);
    expect(codes({ current: withRows(prev, { 'public.orders': 800 }) })).toEqual([]); // exactly 20 %
    const tiny = withRows(prev, { 'public.auth_user': 5 });
    expect(codes({ previous: tiny, current: withRows(tiny, { 'public.auth_user': 1 }) })).toEqual([]);
  });
  it('ignores estimates of unwatched tables moving, and a new table', () => {
    const cur = withRows(prev, { 'public.django_session': 0 });
    cur.tables['public.new_feature'] = { rows: 0, exact: false, sizeBytes: 0 };
    expect(codes({ current: cur })).toEqual([]);
  });
  it('does not call a restart a replacement (same identity)', () => {
    expect(codes({ current: { ...withRows(prev, {}), identity: { ...prev.identity } } })).toEqual([]);
  });
  it('is silent on one failed check when two are needed', () => {
    expect(
      codes({
        current: {
          unreachable: { code: 'unreachable-refused', message: 'Connection refused' },
          failedChecks: 1,
          since: now.toISOString(),
        },
      }),
    ).toEqual([]);
  });
  it('says nothing about production for a real host or a non-production environment', () => {
    expect(
      codes({
        config: { ...config, environment: 'staging', target: { ...config.target, host: 'localhost' } },
      }),
    ).toEqual([]);
    expect(codes({ config: { ...config, target: { ...config.target, host: '10.0.3.7' } } })).toEqual([]);
  });
});

describe('guard: each warning', () => {
  it('database-replaced: a new identity, with the old database’s newest backup as the way back', () => {
    const cur = {
      ...withRows(prev, { 'public.orders': 0, 'public.auth_user': 0 }),
      identity: { ...prev.identity, databaseOid: 99999 },
    };
    const other = manifest({
      id: '20261124T080000000Z-cccc',
      startedAt: '2026-11-24T08:00:00.000Z',
      identity: { ...prev.identity, databaseOid: 55555 },
    });
    const [w, ...rest] = run({ current: cur, manifests: [older, nightly, other] });
    // The database guarded now is the new one, and no backup is of it.
    expect(rest.map((x) => x.code)).toEqual(['backup-stale']);
    expect(rest[0]!.message).toContain('of another database');
    expect(w).toMatchObject({ code: 'database-replaced', level: 'critical' });
    expect(w!.message).toContain('deleted and recreated');
    expect(w!.wayBack).toMatchObject({
      backupId: nightly.id,
      command: `dbwarden restore ${nightly.id} --to postgres://app@db.internal:5432/app`,
    });
  });

  it('database-emptied: every watched table that had rows is empty', () => {
    const [w] = run({ current: withRows(prev, { 'public.orders': 0, 'public.auth_user': 0 }) });
    expect(w).toMatchObject({ code: 'database-emptied', level: 'critical' });
    expect(w!.details).toEqual(['public.auth_user: 40 → 0', 'public.orders: 1,000 → 0']);
    expect(w!.wayBack?.backupId).toBe(nightly.id);
  });

  it('rows-dropped: over the threshold; one emptied table among several is a drop, not "emptied"', () => {
    const [w] = run({ current: withRows(prev, { 'public.orders': 700 }) });
    expect(w).toMatchObject({ code: 'rows-dropped', level: 'critical' });
    expect(w!.details).toEqual(['public.orders: 1,000 → 700 (−30 %)']);
    expect(codes({ current: withRows(prev, { 'public.orders': 0 }) })).toEqual(['rows-dropped']);
    expect(
      codes({ current: withRows(prev, { 'public.orders': 900 }), config: { ...config, rowsDropPct: 5 } }),
    ).toEqual(['rows-dropped']);
  });

  it('rows-dropped, once open, stays until the rows are back: new rows do not hide the loss', () => {
    const grown = withRows(prev, { 'public.orders': 900 }); // 300 lost, 200 new: −10 %
    expect(codes({ current: grown })).toEqual([]);
    expect(codes({ current: grown, rowsDroppedOpen: true })).toEqual(['rows-dropped']);
    expect(codes({ current: withRows(prev, { 'public.orders': 990 }), rowsDroppedOpen: true })).toEqual([]);
  });

  it('the way back is the newest good backup of this database that still holds the data', () => {
    const loss = withRows(prev, { 'public.orders': 100 });
    // Taken after the last snapshot with the data intact (preflight's pre-migration backup): the newest way back.
    const preMigration = manifest({ id: '20261124T100200000Z-dddd', startedAt: '2026-11-24T10:02:00.000Z' });
    const failed = manifest({
      id: '20261124T090000000Z-eeee',
      startedAt: '2026-11-24T09:00:00.000Z',
      status: 'failed',
    });
    const [w] = run({ current: loss, manifests: [older, nightly, failed, preMigration] });
    expect(w!.wayBack?.backupId).toBe(preMigration.id);
    expect(w!.hint).toContain('restore the backup below');
    // Taken after the loss, it holds the loss: never offered; the one before is.
    const afterLoss = manifest({ ...preMigration, tables: { 'public.auth_user': 40, 'public.orders': 100 } });
    expect(run({ current: loss, manifests: [older, nightly, afterLoss] })[0]!.wayBack?.backupId).toBe(
      nightly.id,
    );
    // Another database's backup is never the way back.
    const foreign = manifest({ ...preMigration, identity: { ...prev.identity, databaseOid: 55555 } });
    expect(run({ current: loss, manifests: [older, nightly, foreign] })[0]!.wayBack?.backupId).toBe(
      nightly.id,
    );
    // Nothing holds the data: no way back, and no "below" pointing at nothing.
    const [none] = run({ current: loss, manifests: [afterLoss, foreign] });
    expect(none!.wayBack).toBeNull();
    expect(none!.hint).not.toContain('below');
    expect(none!.hint).toContain('No backup of this database holds the data');
    // Fewer rows in a backup from before the last good snapshot are growth since, not loss: still the way back.
    const grown = withRows(prev, { 'public.orders': 3000 }, prev.at);
    const [g] = run({
      previous: grown,
      current: withRows(grown, { 'public.orders': 300 }),
      manifests: [older, nightly],
    });
    expect(g!.wayBack?.backupId).toBe(nightly.id);
    // A table gone: a backup taken after the DROP lacks it and is not offered.
    const dropped = withRows(prev, {});
    delete dropped.tables['public.orders'];
    dropped.watched = ['public.auth_user'];
    const afterDrop = manifest({ ...preMigration, tables: { 'public.auth_user': 40 } });
    const [t] = run({ current: dropped, manifests: [nightly, afterDrop] });
    expect(t).toMatchObject({ code: 'table-missing', wayBack: { backupId: nightly.id } });
  });

  it('table-missing: critical for a table with rows, warn for an empty unwatched one', () => {
    const cur = withRows(prev, {});
    delete cur.tables['public.orders'];
    cur.watched = ['public.auth_user'];
    const [w] = run({ current: cur });
    expect(w).toMatchObject({ code: 'table-missing', level: 'critical' });
    expect(w!.details).toEqual(['public.orders: had 1,000 rows']);
    expect(w!.wayBack?.backupId).toBe(nightly.id);
    const p2 = snapshot({ at: prev.at });
    p2.tables['public.scratch'] = { rows: 0, exact: false, sizeBytes: 0 };
    const [w2] = run({ previous: p2, current: withRows(prev, {}) });
    expect(w2).toMatchObject({ code: 'table-missing', level: 'warn' });
  });

  it('unreachable after N failed checks, with the reason; a deleted database gets a way back', () => {
    const down = (failedChecks: number, code = 'unreachable-refused') => ({
      unreachable: {
        code,
        message: 'Connection refused by db.internal:5432',
        hint: 'Is the database running?',
      },
      failedChecks,
      since: '2026-11-24T10:00:00.000Z',
    });
    const [w] = run({ current: down(2) });
    expect(w).toMatchObject({ code: 'unreachable', level: 'critical', hint: 'Is the database running?' });
    expect(w!.message).toContain('2 checks in a row');
    expect(w!.wayBack).toBeNull();
    expect(codes({ current: down(5), config: { ...config, unreachableChecks: 6 } })).toEqual([]);
    const [gone] = run({ current: down(3, 'unreachable-no-database') });
    expect(gone!.title).toBe('Database deleted');
    expect(gone!.wayBack?.backupId).toBe(nightly.id);
  });

  it('recovered: reachable again while an unreachable warning is open', () => {
    const [w] = run({ unreachableOpen: true });
    expect(w).toMatchObject({ code: 'recovered', level: 'ok' });
    expect(codes({ unreachableOpen: false })).toEqual([]);
  });

  it('backup-stale: newest good backup older than the limit, or none at all', () => {
    const later = new Date(Date.parse(nightly.finishedAt) + 27 * H);
    const [w] = run({ now: later, current: withRows(prev, {}, later.toISOString()) });
    expect(w).toMatchObject({ code: 'backup-stale', level: 'warn' });
    expect(w!.message).toContain(nightly.id);
    expect(codes({ now: new Date(Date.parse(nightly.finishedAt) + 25 * H) })).toEqual([]);
    expect(codes({ manifests: [] })).toEqual(['backup-stale']);
  });

  it('backup-failed: the newest backup failed, with its cause; a later good one clears it', () => {
    const failed = manifest({
      id: '20261124T090000000Z-ffff',
      startedAt: '2026-11-24T09:00:00.000Z',
      status: 'failed',
      verified: false,
      error: {
        code: 'backup-failed',
        message: 'pg_dump: error: permission denied for table secrets',
        hint: 'Grant SELECT',
      },
    });
    const [w] = run({ manifests: [older, nightly, failed] });
    expect(w).toMatchObject({ code: 'backup-failed', level: 'critical', hint: 'Grant SELECT' });
    expect(w!.message).toContain('permission denied for table secrets');
    const fixed = manifest({ id: '20261124T093000000Z-gggg', startedAt: '2026-11-24T09:30:00.000Z' });
    expect(codes({ manifests: [older, nightly, failed, fixed] })).toEqual([]);
    const unverified = manifest({
      id: '20261124T095000000Z-hhhh',
      startedAt: '2026-11-24T09:50:00.000Z',
      verified: false,
    });
    expect(codes({ manifests: [nightly, unverified] })).toEqual(['backup-failed']);
  });

  it("backup-failed is this database's: another database's failed run never raises it; an unknown one does", () => {
    const failedRun = (over: Partial<Parameters<typeof manifest>[0]>) =>
      manifest({
        id: '20261124T090000000Z-ffff',
        startedAt: '2026-11-24T09:00:00.000Z',
        status: 'failed',
        verified: false,
        error: { code: 'pg-dump-failed', message: 'pg_dump: error: connection lost' },
        ...over,
      });
    const other = { systemIdentifier: '7301000000000000001', databaseOid: 5, databaseName: 'demo_app' };
    expect(codes({ manifests: [older, nightly, failedRun({ identity: other })] })).toEqual([]);
    expect(codes({ manifests: [older, nightly, failedRun({ identity: null })] })).toEqual(['backup-failed']);
  });

  it('backup-unverified: no successful drill in 7 days, only when drills are configured', () => {
    const drilled = (daysAgo: number, ok = true) =>
      manifest({
        ...nightly,
        drill: {
          at: new Date(now.getTime() - daysAgo * 24 * H).toISOString(),
          ok,
          tables: 3,
          rows: 1040,
          durationMs: 900,
          ...(ok ? {} : { problem: 'relation missing' }),
        },
      });
    const drills = { ...config, drillsConfigured: true };
    expect(codes({ config: drills, manifests: [drilled(1)] })).toEqual([]);
    expect(codes({ config: drills, manifests: [drilled(8)] })).toEqual(['backup-unverified']);
    const [w] = run({ config: drills, manifests: [drilled(1, false)] });
    expect(w).toMatchObject({
      code: 'backup-unverified',
      level: 'warn',
      details: [expect.stringContaining('relation missing')],
    });
    expect(codes({ manifests: [drilled(30)] })).toEqual([]); // drills not configured
  });

  it('backup-unverified of an encrypted backup where no age identity is set: says drills are skipped here and where to run one', () => {
    const sealed = manifest({ ...nightly, encrypted: 'age', recipients: ['age1xyz'] });
    const drills = { ...config, drillsConfigured: true };
    const [w] = run({ config: drills, manifests: [sealed] });
    expect(w!.code).toBe('backup-unverified');
    expect(w!.hint).toContain('is encrypted and this dbwarden has no DBWARDEN_AGE_IDENTITY');
    expect(w!.hint).toContain(`dbwarden verify ${sealed.id} --drill`);
    const [keyed] = run({ config: { ...drills, drillIdentity: true }, manifests: [sealed] });
    expect(keyed!.hint).toContain('Check DBWARDEN_DRILL_URL');
  });

  it('backup-shrunk: under half the previous size, fewer tables or rows than the database had', () => {
    const small = manifest({ ...nightly, sizeBytes: 400_000 });
    expect(run({ manifests: [older, small] })[0]).toMatchObject({ code: 'backup-shrunk', level: 'warn' });
    expect(codes({ manifests: [older, manifest({ ...nightly, sizeBytes: 600_000 })] })).toEqual([]);
    const atBackup = snapshot({ at: '2026-11-24T02:55:00.000Z' });
    const lacking = manifest({ ...nightly, tables: { 'public.auth_user': 40, 'public.orders': 1000 } });
    const [w] = run({ manifests: [lacking], atBackup });
    expect(w!.details[0]).toContain('missing: public.django_session');
    const emptyDump = manifest({
      ...nightly,
      tables: { 'public.auth_user': 0, 'public.orders': 0, 'public.django_session': 0 },
    });
    const [w2] = run({ manifests: [emptyDump], atBackup });
    expect(w2!.details).toEqual([
      'holds 0 rows of public.auth_user; the database had 40',
      'holds 0 rows of public.orders; the database had 1,000',
    ]);
    const full = manifest({
      ...nightly,
      tables: { 'public.auth_user': 40, 'public.orders': 990, 'public.django_session': 5 },
    });
    expect(codes({ manifests: [full], atBackup })).toEqual([]);
    expect(
      codes({
        manifests: [emptyDump],
        atBackup,
        config: { ...config, excludeTables: ['orders', 'public.auth_*'] },
      }),
    ).toEqual([]);
  });

  it('backup-shrunk: what the manifest says it left out (excluded, extension-owned) is not missing', () => {
    const atBackup = snapshot({ at: '2026-11-24T02:55:00.000Z' });
    atBackup.tables['public.spatial_ref_sys'] = {
      rows: 8500,
      exact: false,
      sizeBytes: 8192,
      extension: 'postgis',
    };
    const dump = manifest({
      ...nightly,
      tables: { 'public.auth_user': 40, 'public.django_session': 5 },
      leftOut: {
        'public.orders': 'DBWARDEN_EXCLUDE_TABLES',
        'public.spatial_ref_sys': 'owned by extension postgis',
      },
    });
    expect(codes({ manifests: [dump], atBackup })).toEqual([]);
    // An older manifest without that record: the same exclusion rule and the snapshot's extension flag decide.
    const { leftOut: _, ...older } = dump;
    expect(codes({ manifests: [older], atBackup, config: { ...config, excludeTables: ['orders'] } })).toEqual(
      [],
    );
    expect(run({ manifests: [older], atBackup })[0]!.details[0]).toContain('missing: public.orders');
  });

  it('guard-blind: a watched table the snapshot could not count, with the GRANT that fixes it', () => {
    const blind = { ...withRows(prev, {}), role: 'dbwarden', serverVersionNum: 130023 };
    blind.blind = [
      { table: 'public.orders', problem: 'permission-denied' },
      { table: 'public.user', problem: 'timeout' },
    ];
    const [w] = run({ current: blind });
    expect(w).toMatchObject({ code: 'guard-blind', level: 'critical' });
    expect(w!.message).toContain('role dbwarden may not read public.orders');
    expect(w!.details).toEqual([
      'public.orders: permission denied',
      'public.user: count(*) timed out (slow, not forbidden)',
    ]);
    // PostgreSQL 13 has no pg_read_all_data: the hint points at the recipe instead.
    expect(w!.hint).toContain('GRANT SELECT ON public.orders TO dbwarden;');
    expect(w!.hint).not.toContain('pg_read_all_data TO');
    expect(w!.hint).toContain('docs/deploy.md');
    const slow = {
      ...blind,
      serverVersionNum: 160002,
      blind: [{ table: 'public.user', problem: 'timeout' as const }],
    };
    expect(run({ current: slow })[0]).toMatchObject({ code: 'guard-blind', level: 'warn' });
    expect(run({ current: slow })[0]!.hint).toMatch(/^Nothing to grant/);
    const denied = { ...slow, blind: [{ table: 'public.user', problem: 'permission-denied' as const }] };
    expect(run({ current: denied })[0]!.hint).toContain(
      'GRANT SELECT ON public."user" TO dbwarden;`, or for every table now and later `GRANT pg_read_all_data TO dbwarden;`',
    );
  });

  it('not-production-database: production on localhost', () => {
    for (const host of ['localhost', '127.0.0.1', '::1', 'host.docker.internal', 'mybox.local']) {
      const [w] = run({ config: { ...config, target: { ...config.target, host } } });
      expect(w).toMatchObject({ code: 'not-production-database', level: 'warn' });
    }
  });

  it('lists critical warnings first and only known codes', () => {
    const ws = run({
      current: withRows(prev, { 'public.orders': 10 }),
      manifests: [],
      config: { ...config, target: { ...config.target, host: 'localhost' } },
    });
    expect(ws.map((w) => w.code)).toEqual(['rows-dropped', 'backup-stale', 'not-production-database']);
    for (const w of ws) expect(WARNING_CODES).toContain(w.code);
  });
});
