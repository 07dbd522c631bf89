import { assertEncryptionReady, type Config } from '../core/config.js';
import { BackupFailed } from '../core/errors.js';
import { type DbIdentity, readIdentity } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import type { Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';
import { type Catalog, createCatalog, dumpKey, newBackupId } from '../store/catalog.js';
import type { BackupManifest } from '../store/manifest.js';
import { dumpDestination } from './age-seal.js';
import { storeFailed } from './dump.js';
import { type HeldLock, tryBackupLock } from './lock.js';
import type { PgTool } from './pg-tools.js';
import { applyRetention, planRetention } from './retention.js';
import type { BackupProgress, BackupService, RunningBackup } from './service.js';
import { asBackupFailed, findDumpTools, takeDump } from './take-backup.js';
import { verifyChecksum } from './verify.js';

/** What a backup tells /metrics; serve's Prometheus metrics implement it. */
export interface BackupMetrics {
  backupFinished(result: 'success' | 'failure', manifest?: BackupManifest): void;
}

export interface BackupServiceDeps {
  target: Target;
  store: BlobStore;
  config: Pick<Config, 'backup'> & Partial<Pick<Config, 'encryption'>>;
  clock?: () => Date;
  logger: Logger;
  /** Counts backups and exposes the newest good one on /metrics, when wired (serve). */
  metrics?: BackupMetrics;
  /** Told the pg_dump process id as soon as it runs (tests watch it). */
  onDumpSpawn?: (pid: number) => void;
  /**
   * Which database's backups are this target's (latestGood); default: the identity the target answers with,
   * null (no backup vouched for) when it does not answer. main.ts adds the one last seen here.
   */
  identity?: () => Promise<DbIdentity | null>;
}

/** The BackupService of one target: one backup at a time (in process and across replicas), manifests last. */
export function createBackupService(deps: BackupServiceDeps): BackupService & { catalog: Catalog } {
  const { target, store, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const catalog = createCatalog(store);
  let current: RunningBackup | null = null;

  const list = () => catalog.list();
  const identity = deps.identity ?? (() => target.readOnly((c) => readIdentity(c)).catch(() => null));
  const latestGood = async () => catalog.newestGood(await identity());

  async function execute(
    id: string,
    startedAt: Date,
    t0: number,
    req: Parameters<BackupService['run']>[0],
    tools: Promise<[PgTool, PgTool]>,
    withSession: HeldLock['withSession'],
  ) {
    // Only the progress line's estimate (the last good backup's size): looked up once pg_dump runs (reading every
    // manifest and the database's identity must not delay its start), never waited for.
    let expectedBytes: number | null = null;
    const estimate = (dbIdentity: Promise<DbIdentity | null>) =>
      dbIdentity
        .then((i) => catalog.newestGood(i))
        .then(
          (m) => {
            expectedBytes = m?.sizeBytes ?? null;
          },
          () => {},
        );
    const progress = (phase: BackupProgress['phase'], bytes: number) =>
      req.onProgress?.({ phase, bytes, elapsedMs: Math.round(performance.now() - t0), expectedBytes });
    const base = {
      id,
      target: { name: target.name, environment: target.environment, display: target.display },
      startedAt: startedAt.toISOString(),
      dumpKey: dumpKey(id),
      format: 'custom' as const,
      requestedBy: req.requestedBy,
    };
    let bytes = 0;
    let cleaned: Promise<void> = Promise.resolve();
    try {
      progress('starting', 0);
      // Checked at start-up too (serve, backup): this service never writes a plain backup when told not to.
      if (deps.config.encryption) assertEncryptionReady({ encryption: deps.config.encryption });
      // DBWARDEN_AGE_RECIPIENTS: the dump is hashed and listed as plaintext while it streams, and stored encrypted.
      const destination = dumpDestination(store, deps.config.encryption?.recipients ?? null);
      // Alongside the dump, under the same lock: listing the store (an S3 round trip, or a stat per file) need not
      // delay pg_dump's start. This backup's own objects are left alone, and the cleaning ends before it publishes,
      // so its dump is never seen without its manifest.
      cleaned = catalog.cleanLeftovers(startedAt, id).then(
        (removed) => {
          if (removed.length > 0) logger.warn({ removed }, 'removed leftovers of interrupted backups');
        },
        (err) => {
          throw storeFailed(store, err);
        },
      );
      cleaned.catch(() => {});
      const taken = await takeDump({
        target,
        store: destination.store,
        catalog,
        id,
        pgDump: deps.config.backup.pgDump,
        pgRestore: deps.config.backup.pgRestore,
        compression: deps.config.backup.compression,
        excludeTables: deps.config.backup.excludeTables,
        timeoutMs: deps.config.backup.timeoutMs,
        tools,
        ...(req.signal ? { signal: req.signal } : {}),
        onBytes: (b) => {
          bytes = b;
          progress('dumping', b);
        },
        onSpawn: (pid, dbIdentity) => {
          estimate(dbIdentity);
          deps.onDumpSpawn?.(pid);
        },
        withSession,
      });
      await cleaned;
      const sealed = destination.sealed();
      progress('publishing', taken.sizeBytes);
      const published = performance.now();
      await catalog.publishDump(id);
      const publishMs = Math.round(performance.now() - published);
      const finished = clock();
      const manifest: BackupManifest = {
        ...base,
        status: 'complete',
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - startedAt.getTime(),
        sizeBytes: taken.sizeBytes,
        sha256: taken.sha256,
        ...(sealed
          ? {
              encrypted: 'age' as const,
              recipients: sealed.recipients,
              storedSizeBytes: sealed.storedSizeBytes,
              storedSha256: sealed.storedSha256,
            }
          : {}),
        pgDumpVersion: taken.pgDump.version,
        serverVersion: taken.serverVersion,
        identity: taken.identity,
        tables: taken.tables,
        leftOut: taken.leftOut,
        verified: false,
        verifiedAt: null,
        drill: null,
      };
      progress('verifying', taken.sizeBytes);
      // (a) The checksum must be of what the store holds. A file store's was taken reading the synced file back,
      // and (b) `pg_restore --list` read that file; a streamed dump (S3) was hashed and listed on its way, so the
      // stored object is re-read here and must match. An encrypted one was listed as plaintext on its way, and its
      // stored object read back (a file store) or is re-read here.
      const rereading = performance.now();
      if (!(sealed ? sealed.readBack : taken.readBack)) await verifyChecksum(store, manifest);
      manifest.timings = {
        prepareMs: Math.round(taken.dumpStartedAt - t0),
        ...taken.timings,
        publishMs,
        checksumMs: taken.timings.checksumMs + Math.round(performance.now() - rereading),
        encryptMs: sealed?.encryptMs ?? 0,
      };
      manifest.verified = true;
      manifest.verifiedAt = clock().toISOString();
      await catalog.writeManifest(manifest).catch((err) => {
        throw storeFailed(store, err);
      });
      progress('done', taken.sizeBytes);
      deps.metrics?.backupFinished('success', manifest);
      logger.info(
        {
          backup: id,
          sizeBytes: manifest.sizeBytes,
          durationMs: manifest.durationMs,
          requestedBy: req.requestedBy,
          encrypted: Boolean(sealed),
        },
        'backup complete and verified',
      );
      const pruning = performance.now();
      await pruneOldBackups();
      logger.debug({ backup: id, retentionMs: Math.round(performance.now() - pruning) }, 'retention applied');
      return manifest;
    } catch (err) {
      // Still under the lock: the cleaning has ended before another run may start.
      await cleaned.catch(() => {});
      await catalog.removeDump(id);
      throw await recordFailure(id, startedAt, req.requestedBy, err, bytes);
    }
  }

  /**
   * The keep policy, applied only after a good backup: a pruning problem is logged, never turned into a failed
   * backup, and keeps what it could not delete.
   */
  async function pruneOldBackups(): Promise<void> {
    try {
      const plan = planRetention(await catalog.list(), deps.config.backup.keep, clock());
      if (plan.remove.length === 0) return;
      const result = await applyRetention(store, plan);
      if (result.removed.length > 0)
        logger.info({ removed: result.removed }, 'retention removed old backups');
      for (const f of result.failed)
        logger.warn({ backup: f.id, problem: f.message }, 'retention could not remove a backup');
    } catch (err) {
      logger.warn({ err }, 'retention skipped: the backup list could not be read');
    }
  }

  /**
   * A run that failed leaves a failed manifest (when the store takes it) saying why. A cancelled one (shutdown,
   * Ctrl-C) leaves nothing: it is not a backup problem, and the guard must not raise backup-failed for a deploy.
   */
  async function recordFailure(
    id: string,
    startedAt: Date,
    requestedBy: string,
    err: unknown,
    bytes = 0,
  ): Promise<BackupFailed> {
    const e = asBackupFailed(err, target.redact);
    if (e.code === 'cancelled') return e;
    const finished = clock();
    const failed: BackupManifest = {
      id,
      target: { name: target.name, environment: target.environment, display: target.display },
      status: 'failed',
      startedAt: startedAt.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - startedAt.getTime(),
      dumpKey: dumpKey(id),
      sizeBytes: bytes,
      sha256: '',
      format: 'custom',
      pgDumpVersion: '',
      serverVersion: '',
      // Which database failed, when it still answers: another database's failure must not alarm this one.
      identity: await identity().catch(() => null),
      tables: {},
      requestedBy,
      verified: false,
      verifiedAt: null,
      drill: null,
      error: e.toJSON(),
    };
    await catalog.writeManifest(failed).catch((werr) => {
      logger.error({ backup: id, err: String(werr) }, 'could not record the failed backup');
    });
    logger.error({ backup: id, code: e.code, error: e.message }, 'backup failed');
    deps.metrics?.backupFinished('failure');
    // Set even when the manifest could not be written: the id still dates the failure (Retry now compares with it).
    e.backupId = id;
    return e;
  }

  return {
    catalog,
    list,
    latestGood,
    running: () => current,
    async run(req) {
      if (current) throw alreadyRunning(current.requestedBy, current.startedAt.toISOString());
      const startedAt = clock();
      const t0 = performance.now();
      current = { requestedBy: req.requestedBy, startedAt };
      const id = newBackupId(startedAt);
      // Looked for while the lock is taken: pg_dump then starts as soon as the database's snapshot is ready.
      const tools = findDumpTools(deps.config.backup);
      try {
        let lock: Awaited<ReturnType<typeof tryBackupLock>>;
        try {
          lock = await tryBackupLock(target, `${req.requestedBy} since ${startedAt.toISOString()}`);
        } catch (err) {
          // The database is unreachable (or refuses us): that is a failed backup, and it is recorded.
          throw await recordFailure(id, startedAt, req.requestedBy, err);
        }
        if ('busy' in lock) throw alreadyRunning(lock.holder, null, true);
        try {
          return await execute(id, startedAt, t0, req, tools, lock.withSession);
        } finally {
          await lock.release();
        }
      } catch (err) {
        throw asBackupFailed(err, target.redact);
      } finally {
        current = null;
      }
    },
  };
}

/** The refusal a second backup gets: who started the running one and when. */
function alreadyRunning(by: string | null, since: string | null, elsewhere = false): BackupFailed {
  const who = by ? ` (${since ? `started by ${by} at ${since}` : by})` : '';
  return new BackupFailed(
    `A backup of this database is already running${elsewhere ? ' in another dbwarden' : ''}${who}`,
    'Wait for it to finish; its result is posted when it does.',
    'backup-running',
  );
}
