import { join } from 'node:path';
import { abortableBackups } from './backup/abortable.js';
import { checkIdentities } from './backup/age-open.js';
import { checkRecipients } from './backup/age-seal.js';
import { runningBackupField } from './backup/backup-report.js';
import { type BackupMetrics, createBackupService } from './backup/backup-service.js';
import { findTool } from './backup/pg-tools.js';
import { progressTracked } from './backup/progress-tracked.js';
import type { BackupService } from './backup/service.js';
import { verifyAndRecord } from './backup/verify.js';
import { type ActionHandler, createActionHandler } from './chat/actions.js';
import type { ChatTuning } from './chat/adapter.js';
import { type PostPolicy, teamChannel } from './chat/channels.js';
import { backupNowCommand } from './chat/commands/backup-now.js';
import { backupVerifyCommand } from './chat/commands/backup-verify.js';
import { dbBackupsCommand } from './chat/commands/db-backups.js';
import { digestCommand } from './chat/commands/db-digest.js';
import { dbStatusCommand } from './chat/commands/db-status.js';
import type { ChatCommand } from './chat/commands.js';
import { assertEncryptionReady, type Config, loadConfig, SECRET_VARS } from './core/config.js';
import { nextRunAfter } from './core/cron.js';
import { type DbIdentity, readIdentity } from './core/identity.js';
import { createLogger, type Logger } from './core/log.js';
import type { Notifier } from './core/notifier.js';
import type { Report } from './core/report.js';
import { createRedactor, type Redactor } from './core/secrets.js';
import { snapshotFromStatus } from './core/snapshot.js';
import { type BackupLookup, type DbStatus, probeStatus } from './core/status.js';
import { statusReport } from './core/status-report.js';
import { createTarget, parsePostgresUrl, type Target } from './core/target.js';
import type { LocalCluster } from './demo/cluster.js';
import { startDemoDatabase } from './demo/demo.js';
import { buildDigest, type Digest } from './guard/digest.js';
import { digestReport } from './guard/digest-report.js';
import type { GuardConfig, OpenWarning } from './guard/guard.js';
import { lastRoundCounts } from './guard/last-round.js';
import { lastSeenAt } from './guard/snapshot-history.js';
import { acceptCurrent, type WatchResult, watchOnce } from './guard/watch.js';
import { loadWatchState } from './guard/watch-state.js';
import type { BlobStore } from './store/blob-store.js';
import { answerWithin, boundedStore } from './store/bounded-store.js';
import { type Catalog, failureOf, goodBackupsOf, lastAttemptFailed } from './store/catalog.js';
import { createFileStore } from './store/file-store.js';
import { type BackupManifest, isGood } from './store/manifest.js';
import { openStore } from './store/open-store.js';

/** Everything built once from the config and passed down: the composition root. Never edited afterwards. */
export interface Services {
  readonly config: Config;
  /** The guarded database; its `environment` is the configured one, or "demo". */
  readonly target: Target;
  readonly logger: Logger;
  readonly demo: LocalCluster | null;
  /**
   * The database now, every watched table counted exactly by this reading: what the watch, the digest, deploy
   * checks and `dbwarden status` compare and remember.
   */
  status(): Promise<DbStatus>;
  /**
   * Status as serve shows it (/db-status, the console, /metrics): the watched tables' exact counts from the last
   * watch round while it is of this database and not overdue, with their age; counted now otherwise. Never
   * snapshotted: its counts may be older than its reading.
   */
  shownStatus(): Promise<DbStatus>;
  /** The shown status as a Report. */
  statusReport(): Promise<Report>;
  /** What the buttons under warnings and failed backups do, platform-neutral; every adapter hands presses to it. */
  readonly actions: ActionHandler;
  /** The chat commands, platform-neutral; every adapter serves this same list. */
  readonly commands: readonly ChatCommand[];
  /** Hides every configured secret and URL password: for anything shown in chat or logged. */
  readonly redact: Redactor;
  readonly backups: BackupService;
  /**
   * Check a stored backup (checksum, archive; with `drill`, a restore into the scratch database) and record the
   * outcome in its manifest: the one way `verify`, `/backup-verify` and the scheduled drill run it.
   */
  verify(
    m: BackupManifest,
    opts: { drill: boolean; requestedBy: string },
  ): ReturnType<typeof verifyAndRecord>;
  /** The manifests in the store: read, rewrite after verify, restore from. */
  readonly catalog: Catalog;
  /** Whose backups count: the database that answers, else the one last seen at this address; null when unknown. */
  whoseBackups(): Promise<DbIdentity | null>;
  /** Where backups and dbwarden's memory (snapshots, open warnings, run markers) live. */
  readonly store: BlobStore;
  readonly clock: () => Date;
  /** The team channel: Slack and/or Discord channel posts, the console when neither is configured. */
  readonly notifier: Notifier;
  readonly guardConfig: GuardConfig;
  /** One round of the data-loss watch. */
  watch(): Promise<WatchResult>;
  /** The daily digest, as data and as a Report. */
  digest(): Promise<Digest>;
  digestReport(): Promise<Report>;
  close(): Promise<void>;
}

export interface BuildOptions {
  env?: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  clock?: () => Date;
  /** Where the console notifier writes when no chat is configured (default: stdout). */
  consoleOutput?: NodeJS.WritableStream;
  /** Aborts every backup, whoever started it, when shutdown outlasts its grace period (serve). */
  shutdownSignal?: AbortSignal;
  /** How hard channel posts retry: serve is patient, one-shot commands are brief (default). */
  postPolicy?: PostPolicy;
  /** Counts backups for /metrics (serve). */
  backupMetrics?: BackupMetrics;
  /** Shorter platform timings (tests). */
  chatTuning?: ChatTuning;
  /**
   * The caller writes backups (serve, backup): DBWARDEN_REQUIRE_ENCRYPTION and the age recipients are checked now,
   * before anything starts, so a refusal is a start-up error rather than a failed backup later.
   */
  writesBackups?: boolean;
  /** The caller decrypts backups on its own (serve's scheduled drills): DBWARDEN_AGE_IDENTITY is checked now too. */
  drillsUnattended?: boolean;
}

/** Load config, start the demo database when no DATABASE_URL is set, and wire the core. */
export async function buildServices(opts: BuildOptions = {}): Promise<Services> {
  const env = opts.env ?? process.env;
  const config = loadConfig(env);
  if (opts.writesBackups) {
    assertEncryptionReady(config);
    if (config.encryption.recipients) await checkRecipients(config.encryption.recipients);
  }
  if (opts.drillsUnattended && config.encryption.identities)
    await checkIdentities(config.encryption.identities);
  let demo: LocalCluster | null = null;
  let url = config.databaseUrl;
  let store: BlobStore;
  if (url) {
    store = boundedStore(await openStore(config));
  } else {
    const started = await startDemoDatabase(config.store);
    demo = started.cluster;
    url = started.url;
    // The demo's history lives with the demo, so it can never pass for a real database's backups.
    store = createFileStore(join(demo.dir, 'demo-store'));
  }
  const environment = demo ? 'demo' : config.environment;
  const target = createTarget(url, {
    name: config.targetName,
    environment,
    connectTimeoutMs: config.connectTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  // Every secret variable's value (tokens, AWS key, whole URLs) and the password inside the drill URL.
  const redactSecrets = createRedactor([
    ...SECRET_VARS.map((name) => env[name]?.trim()),
    urlPassword(config.backup.drillUrl),
    // DBWARDEN_AGE_IDENTITY may name a file: the keys read from it are secrets too.
    ...(config.encryption.identities ?? []),
  ]);
  const redact: Redactor = (s) => target.redact(redactSecrets(s));
  const logger = createLogger({
    level: config.logLevel,
    redact,
    ...(opts.logDestination ? { destination: opts.logDestination } : {}),
  });
  const clock = opts.clock ?? (() => new Date());
  /**
   * Whose backups count: the database that answers now. When it does not answer, the one dbwarden last saw at this
   * address (its newest snapshot): during an outage the team needs that database's backup, and a snapshot taken
   * at another address (the demo's) never lends its backups. Nothing seen here: unknown, and no backup is claimed.
   */
  const backupIdentity = async (probed: DbIdentity | null): Promise<DbIdentity | null> =>
    probed ?? (await lastSeenAt(store, target.display).catch(() => null))?.identity ?? null;
  const whoseBackups = async () =>
    backupIdentity(await target.readOnly((c) => readIdentity(c)).catch(() => null));
  const rawBackups = createBackupService({
    target,
    store,
    config,
    clock,
    logger,
    identity: () => whoseBackups(),
    ...(opts.backupMetrics ? { metrics: opts.backupMetrics } : {}),
  });
  const backups = progressTracked(
    opts.shutdownSignal ? abortableBackups(rawBackups, opts.shutdownSignal) : rawBackups,
  );
  // Status answers within seconds when the store does not: the lookup as a whole is bounded, not only each call.
  const lastBackup = (probed: DbIdentity | null): Promise<BackupLookup> =>
    answerWithin(lookUpLastBackup(probed), store.location);
  const lookUpLastBackup = async (probed: DbIdentity | null): Promise<BackupLookup> => {
    const of = await backupIdentity(probed);
    const all = await rawBackups.catalog.list();
    const mine = goodBackupsOf(all, of);
    const m = mine[0];
    // Unknown whose backups count: another database's failures must not pass for this one's.
    const failed = of && lastAttemptFailed(all, of);
    return {
      of,
      failed: failed && failureOf(failed),
      backup: m
        ? {
            id: m.id,
            finishedAt: m.finishedAt,
            verified: m.verified,
            sizeBytes: m.sizeBytes,
            ...(m.encrypted ? { encrypted: m.encrypted } : {}),
          }
        : null,
      otherDatabases: all.filter(isGood).length - mine.length,
    };
  };
  const guardWarnings = async () =>
    Object.values((await answerWithin(loadWatchState(store), store.location)).open).filter(
      (o): o is OpenWarning => Boolean(o),
    );
  const statusDeps = {
    target,
    watchTables: config.watchTables,
    clock,
    lastBackup,
    guardWarnings,
    backupMaxAgeMs: config.guard.backupMaxAgeMs,
  };
  const status = () => probeStatus(statusDeps);
  const roundCounts = lastRoundCounts({
    store,
    watchCron: config.schedule.watchCron,
    timezone: config.timezone,
  });
  const shownStatus = () =>
    probeStatus({ ...statusDeps, recentCounts: () => answerWithin(roundCounts(), store.location) });
  const notifier = teamChannel({
    config,
    environment,
    logger,
    redact,
    policy: opts.postPolicy ?? 'brief',
    consoleOutput: opts.consoleOutput ?? process.stdout,
    ...(opts.chatTuning ? { tuning: opts.chatTuning } : {}),
  });
  const guardConfig: GuardConfig = {
    environment,
    target: { name: target.name, display: target.display, host: parsePostgresUrl(url).host },
    backupMaxAgeMs: config.guard.backupMaxAgeMs,
    rowsDropPct: config.guard.rowsDropPct,
    unreachableChecks: config.guard.unreachableChecks,
    drillsConfigured: config.backup.drillCron !== null,
    drillIdentity: config.encryption.identities !== null,
    excludeTables: config.backup.excludeTables,
    timezone: config.timezone,
  };
  const watch = () =>
    watchOnce({ store, probe: status, notifier, guardConfig, clock, timezone: config.timezone, logger });
  const digest = async () => {
    const s = await status();
    const now = clock();
    return buildDigest({
      store,
      now,
      current: snapshotFromStatus(s),
      identity: await backupIdentity(s.identity),
      target: s.target,
      nextBackupAt: nextRunAfter(config.schedule.backupCron, config.timezone, now),
    });
  };
  const digestReportNow = async () => digestReport(await digest(), config.timezone);
  const statusReportNow = async () => statusReport(await shownStatus(), config.timezone);
  const verify: Services['verify'] = async (m, opts) =>
    verifyAndRecord(
      {
        store,
        catalog: rawBackups.catalog,
        pgRestore: await findTool('pg_restore', config.backup.pgRestore),
        target,
        drillUrl: config.backup.drillUrl,
        identities: config.encryption.identities,
        clock,
      },
      m,
      opts,
    );
  const backupNow = backupNowCommand({ backups, config, clock, target, location: store.location });
  const actions = createActionHandler({
    config,
    target,
    backupNow,
    backups,
    catalog: rawBackups.catalog,
    whoseBackups,
    accept: (by) => acceptCurrent({ store, probe: status, clock }, by),
    watchState: () => loadWatchState(store),
    clock,
    logger,
    ...(opts.chatTuning?.editIntervalMs !== undefined
      ? { editIntervalMs: opts.chatTuning.editIntervalMs }
      : {}),
  });
  return {
    config,
    target,
    logger,
    demo,
    actions,
    status,
    shownStatus,
    statusReport: statusReportNow,
    commands: [
      dbStatusCommand({
        statusReport: statusReportNow,
        runningBackup: () => {
          const r = backups.current();
          return r ? runningBackupField(r, clock()) : null;
        },
      }),
      digestCommand({ digestReport: digestReportNow }),
      backupNow,
      backupVerifyCommand({
        catalog: rawBackups.catalog,
        whoseBackups,
        // As `dbwarden verify --drill` runs it.
        drill: (m, requestedBy) => verify(m, { drill: true, requestedBy }),
        config,
        target,
        clock,
      }),
      dbBackupsCommand({
        backupList: async () => ({
          ...(await rawBackups.catalog.scan()),
          identity: await whoseBackups(),
          location: store.location,
        }),
        target,
        timezone: config.timezone,
        clock,
      }),
    ],
    redact,
    backups,
    verify,
    catalog: rawBackups.catalog,
    whoseBackups,
    store,
    clock,
    notifier,
    guardConfig,
    watch,
    digest,
    digestReport: digestReportNow,
    async close() {
      await target.close();
      store.close?.();
    },
  };
}

/** The password inside a connection URL, if any (redacted wherever it might be quoted). */
function urlPassword(url: string | null): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
