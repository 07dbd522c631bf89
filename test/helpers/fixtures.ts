import type { Snapshot } from '../../src/core/snapshot.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import type { BackupManifest } from '../../src/store/manifest.js';
import { manifestKey } from '../../src/store/manifest.js';

/** A backup manifest as the backup service writes it; tests override what matters to them. */
export function manifest(over: Partial<BackupManifest> & { id: string }): BackupManifest {
  const started = over.startedAt ?? '2026-11-24T03:00:00.000Z';
  return {
    target: { name: 'app', environment: 'production', display: 'postgres://app@db.internal:5432/app' },
    status: 'complete',
    startedAt: started,
    finishedAt: new Date(Date.parse(started) + 4000).toISOString(),
    durationMs: 4000,
    dumpKey: `backups/${over.id}.dump`,
    sizeBytes: 1_000_000,
    sha256: 'a'.repeat(64),
    format: 'custom',
    pgDumpVersion: '15.6',
    serverVersion: '15.6',
    identity: { systemIdentifier: '7301000000000009924', databaseOid: 16384, databaseName: 'app' },
    tables: { 'public.auth_user': 40, 'public.orders': 1000 },
    requestedBy: 'schedule',
    verified: true,
    verifiedAt: started,
    drill: null,
    ...over,
  };
}

/** Write manifests as JSON into a real store, where the backup service would put them. */
export async function writeManifests(store: BlobStore, manifests: BackupManifest[]): Promise<void> {
  for (const m of manifests) await store.put(manifestKey(m.id), JSON.stringify(m));
}

/** A snapshot of a small app database. */
export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    v: 1,
    at: '2026-11-24T10:00:00.000Z',
    target: { name: 'app', environment: 'production', display: 'postgres://app@db.internal:5432/app' },
    identity: { systemIdentifier: '7301000000000009924', databaseOid: 16384, databaseName: 'app' },
    sizeBytes: 9_000_000,
    tables: {
      'public.auth_user': { rows: 40, exact: true, sizeBytes: 8192 },
      'public.orders': { rows: 1000, exact: true, sizeBytes: 81920 },
      'public.django_session': { rows: 5, exact: false, sizeBytes: 8192 },
    },
    watched: ['public.auth_user', 'public.orders'],
    ...over,
  };
}
