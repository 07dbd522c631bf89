import type { DbIdentity } from '../core/identity.js';
import type { Snapshot } from '../core/snapshot.js';
import type { BlobStore } from '../store/blob-store.js';
import { createCatalog, failureOf, goodBackupsOf, lastAttemptFailed } from '../store/catalog.js';
import type { BackupManifest } from '../store/manifest.js';
import type { OpenWarning } from './guard.js';
import { listSnapshots, loadSnapshot, nearestBefore } from './snapshot-history.js';
import { loadWatchState } from './watch-state.js';

const H = 3_600_000;
const D = 24 * H;

export interface BackupSummary {
  id: string;
  finishedAt: string;
  sizeBytes: number;
  durationMs: number;
  verified: boolean;
  /** Stored encrypted with age. */
  encrypted: boolean;
  drill: BackupManifest['drill'];
}

export interface TableGrowth {
  table: string;
  rows: number;
  rows24h: number | null;
  rows7d: number | null;
}

/** The daily digest as data: what a team reads in five seconds, before it is a Report. */
export interface Digest {
  at: string;
  target: { name: string; environment: string; display: string };
  /** Last night's backup: confirmed, failed (with the cause) or missing. */
  backup: {
    state: 'ok' | 'failed' | 'missing';
    latest: BackupSummary | null;
    /** The last attempt, when it failed: in the window (state "failed") or before it (state "missing"). */
    failure: { id: string; at: string; message: string; hint: string } | null;
  };
  database: {
    reachable: boolean;
    sizeBytes: number | null;
    size24h: number | null;
    size7d: number | null;
    tables: TableGrowth[];
  };
  /** Database size over the last 14 days, one character a day, oldest first (" " when unknown). */
  sparkline: string;
  openWarnings: OpenWarning[];
  catalog: { kept: number; oldest: string | null; totalBytes: number };
  nextBackupAt: string | null;
}

export interface DigestInput {
  store: BlobStore;
  now: Date;
  /** The database now; null when it did not answer (the newest stored snapshot stands in). */
  current: Snapshot | null;
  /** The database whose backups count (null: unknown, then none is confirmed). */
  identity: DbIdentity | null;
  target: Digest['target'];
  nextBackupAt: Date | null;
  /** How far back "last night's backup" may be. */
  windowMs?: number;
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** Values → "▁▂▃▅▇"; null is a gap. */
export function sparkline(values: (number | null)[]): string {
  const known = values.filter((v): v is number => v !== null);
  if (known.length === 0) return ' '.repeat(values.length);
  const min = Math.min(...known);
  const max = Math.max(...known);
  return values
    .map((v) => {
      if (v === null) return ' ';
      if (max === min) return SPARKS[3];
      return SPARKS[Math.round(((v - min) / (max - min)) * (SPARKS.length - 1))];
    })
    .join('');
}

const summary = (m: BackupManifest): BackupSummary => ({
  id: m.id,
  finishedAt: m.finishedAt,
  sizeBytes: m.sizeBytes,
  durationMs: m.durationMs,
  verified: m.verified,
  encrypted: m.encrypted === 'age',
  drill: m.drill,
});

/** The digest names the failed attempt's time `at`, as its JSON always has. */
function asDigestFailure({
  finishedAt: at,
  ...rest
}: ReturnType<typeof failureOf>): Digest['backup']['failure'] {
  return { ...rest, at };
}

/** Gather the digest from the store: manifests, snapshots and the watch's open warnings. */
export async function buildDigest(input: DigestInput): Promise<Digest> {
  const { store, now } = input;
  const windowMs = input.windowMs ?? 26 * H;
  const manifests = (await createCatalog(store).list()).sort(
    (a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt),
  );
  const recent = (m: BackupManifest) => now.getTime() - Date.parse(m.finishedAt) <= windowMs;
  // Only this database's backups confirm anything; a failed run that could not read the identity is reported as is.
  const good = goodBackupsOf(manifests, input.identity);
  const recentGood = good.find(recent);
  // The last attempt failed (after the newest good backup, or with none): said when it falls in the window.
  const failed = lastAttemptFailed(manifests, input.identity);
  const state: Digest['backup']['state'] =
    failed && recent(failed) ? 'failed' : recentGood ? 'ok' : 'missing';
  // Said also when it is older than the window (then the backup is missing): why, and what fixes it.
  const failure = failed ? asDigestFailure(failureOf(failed)) : null;

  const refs = await listSnapshots(store);
  const at = async (ago: number, toleranceMs: number) => {
    const ref = nearestBefore(refs, new Date(now.getTime() - ago), toleranceMs);
    return ref ? loadSnapshot(store, ref.key) : null;
  };
  const cur = input.current ?? (await at(0, 2 * H));
  const day = await at(D, 12 * H);
  const week = await at(7 * D, 36 * H);
  const sizes: (number | null)[] = [];
  for (let d = 13; d >= 1; d--) sizes.push((await at(d * D, 24 * H))?.sizeBytes ?? null);
  sizes.push(cur?.sizeBytes ?? null);

  const tables: TableGrowth[] = (cur?.watched ?? []).map((t) => ({
    table: t,
    rows: cur!.tables[t]!.rows,
    rows24h: day?.tables[t]?.rows ?? null,
    rows7d: week?.tables[t]?.rows ?? null,
  }));
  const state2 = await loadWatchState(store);
  const complete = manifests.filter((m) => m.status === 'complete');
  return {
    at: now.toISOString(),
    target: input.target,
    backup: { state, latest: recentGood ? summary(recentGood) : good[0] ? summary(good[0]) : null, failure },
    database: {
      reachable: input.current !== null,
      sizeBytes: cur?.sizeBytes ?? null,
      size24h: day?.sizeBytes ?? null,
      size7d: week?.sizeBytes ?? null,
      tables,
    },
    sparkline: sparkline(sizes),
    openWarnings: Object.values(state2.open).filter((o): o is OpenWarning => Boolean(o)),
    catalog: {
      kept: good.length,
      oldest: good[good.length - 1]?.finishedAt ?? null,
      totalBytes: complete.reduce((n, m) => n + m.sizeBytes, 0),
    },
    nextBackupAt: input.nextBackupAt?.toISOString() ?? null,
  };
}
