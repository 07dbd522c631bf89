import { createBackupService } from './backup/backup-service.js';
import { type Catalog, goodBackupsOf } from './backup/catalog.js';
import { isGood } from './backup/manifest.js';
import type { BackupService } from './backup/service.js';
import type { BlobStore } from './backup/store/blob-store.js';
import { openStore } from './backup/store/open-store.js';
import { backupNowCommand } from './chat/commands/backup-now.js';
import { dbStatusCommand } from './chat/commands/db-status.js';
import { digestCommand } from './chat/commands/digest.js';
import type { ChatCommand } from './chat/commands.js';
import { createConsoleNotifier } from './chat/console-notifier.js';
import { directNotifiers } from './chat/direct-notifiers.js';
import { type Config, loadConfig, SECRET_VARS } from './config.js';
import { buildDigest, type Digest } from './core/digest.js';
import { digestReport } from './core/digest-report.js';
import type { GuardConfig } from './core/guard.js';
import { type DbIdentity, readIdentity } from './core/identity.js';
import { fanOut, type Notifier } from './core/notifier.js';
import type { Report } from './core/report.js';
import { createRedactor } from './core/secrets.js';
import { lastSeenAt, snapshotFromStatus } from './core/snapshot.js';
import { type BackupLookup, type DbStatus, probeStatus } from './core/status.js';
import { statusReport } from './core/status-report.js';
import { createTarget, parsePostgresUrl, type Target } from './core/target.js';
import { loadWatchState, type OpenWarning, type WatchResult, watchOnce } from './core/watch.js';
import type { LocalCluster } from './demo/cluster.js';
import { startDemoDatabase } from './demo/demo.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { nextRunAfter } from './schedule.js';
import { abortableBackups } from './shutdown.js';

/** Everything built once from the config and passed down: the composition root. */
export interface Services {
  config: Config;
  target: Target;
  logger: Logger;
  demo: LocalCluster | null;
  status(): Promise<DbStatus>;
  statusReport(): Promise<Report>;
  commands: ChatCommand[];
  /** Hides every configured secret and URL password: for anything shown in chat or logged. */
  redact(text: string): string;
  /** Prometheus metrics for /metrics; every status probe records into it. */
  metrics: Metrics;
  backups: BackupService;
  /** The manifests in the store: read, rewrite after verify, restore from. */
  catalog: Catalog;
  close(): Promise<void>;
  /** Where backups and dbwarden's memory (snapshots, open warnings, run markers) live. */
  store: BlobStore;
  clock: () => Date;
  /** Chat channels that take posts (Slack, Discord adapters push theirs here). */
  notifiers: Notifier[];
  /** Posts to every channel in `notifiers`; the console when there is none. */
  notifier: Notifier;
  guardConfig: GuardConfig;
  /** One round of the data-loss watch. */
  watch(): Promise<WatchResult>;
  /** The daily digest, as data and as a Report. */
  digest(): Promise<Digest>;
  digestReport(): Promise<Report>;
}

export interface BuildOptions {
  env?: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  clock?: () => Date;
  /** Where the console notifier writes when no chat is configured (default: stdout). */
  consoleOutput?: NodeJS.WritableStream;
  /** Aborts every backup, whoever started it, when shutdown outlasts its grace period (serve). */
  shutdownSignal?: AbortSignal;
  /** One-shot commands: post to the configured channels over plain Web API/REST (serve attaches its bots instead). */
  postToChannels?: boolean;
}

/** Load config, start the demo database when no DATABASE_URL is set, and wire the core. */
export async function buildServices(opts: BuildOptions = {}): Promise<Services> {
  const config = loadConfig(opts.env ?? process.env);
  const store = openStore(config);
  let demo: LocalCluster | null = null;
  let url = config.databaseUrl;
  if (!url) {
    const started = await startDemoDatabase(config.store);
    demo = started.cluster;
    url = started.url;
    config.environment = 'demo';
  }
  const target = createTarget(url, {
    name: config.targetName,
    environment: config.environment,
    connectTimeoutMs: config.connectTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  const env = opts.env ?? process.env;
  // Every secret variable's value (tokens, AWS key, whole URLs) and the password inside the drill URL.
  const redactSecrets = createRedactor([
    ...SECRET_VARS.map((name) => env[name]?.trim()),
    urlPassword(config.backup.drillUrl),
  ]);
  const redact = (s: string) => target.redact(redactSecrets(s));
  const logger = createLogger({
    level: config.logLevel,
    redact,
    ...(opts.logDestination ? { destination: opts.logDestination } : {}),
  });
  const clock = opts.clock ?? (() => new Date());
  const metrics = createMetrics();
  /**
   * Whose backups count: the database that answers now. When it does not answer, the one dbwarden last saw at this
   * address (its newest snapshot): during an outage the team needs that database's backup, and a snapshot taken
   * at another address (the demo's) never lends its backups. Nothing seen here: unknown, and no backup is claimed.
   */
  const backupIdentity = async (probed: DbIdentity | null): Promise<DbIdentity | null> =>
    probed ?? (await lastSeenAt(store, target.display).catch(() => null))?.identity ?? null;
  const rawBackups = createBackupService({
    target,
    store,
    config,
    clock,
    logger,
    metrics,
    identity: async () => backupIdentity(await target.readOnly((c) => readIdentity(c)).catch(() => null)),
  });
  const backups = opts.shutdownSignal
    ? { ...abortableBackups(rawBackups, opts.shutdownSignal), catalog: rawBackups.catalog }
    : rawBackups;
  const lastBackup = async (probed: DbIdentity | null): Promise<BackupLookup> => {
    const of = await backupIdentity(probed);
    const all = await rawBackups.catalog.list();
    const mine = goodBackupsOf(all, of);
    const m = mine[0];
    return {
      of,
      backup: m ? { id: m.id, finishedAt: m.finishedAt, verified: m.verified, sizeBytes: m.sizeBytes } : null,
      otherDatabases: all.filter(isGood).length - mine.length,
    };
  };
  const guardWarnings = async () =>
    Object.values((await loadWatchState(store)).open).filter((o): o is OpenWarning => Boolean(o));
  const status = async () => {
    const s = await probeStatus({
      target,
      watchTables: config.watchTables,
      clock,
      lastBackup,
      guardWarnings,
    });
    metrics.statusProbed(s);
    return s;
  };
  const services: Services = {
    config,
    target,
    logger,
    demo,
    status,
    statusReport: async () => statusReport(await status(), config.timezone),
    commands: [],
    redact,
    metrics,
    backups,
    catalog: backups.catalog,
    async close() {
      await target.close();
    },
    ...guardServices(
      config,
      target,
      url,
      logger,
      clock,
      status,
      opts.consoleOutput ?? process.stdout,
      store,
      backupIdentity,
    ),
  };
  services.commands.push(dbStatusCommand({ statusReport: services.statusReport }));
  services.commands.push(digestCommand({ digestReport: services.digestReport }));
  services.commands.push(backupNowCommand({ backups, config, clock, target, location: store.location }));
  if (opts.postToChannels) services.notifiers.push(...directNotifiers(config, logger, redact));
  return services;
}

/** The guard's store, channels and watch: added to the services in one block to keep merges easy. */
function guardServices(
  config: Config,
  target: Target,
  url: string,
  logger: Logger,
  clock: () => Date,
  status: () => Promise<DbStatus>,
  consoleOutput: NodeJS.WritableStream,
  store: BlobStore,
  backupIdentity: (probed: DbIdentity | null) => Promise<DbIdentity | null>,
): Pick<
  Services,
  'store' | 'clock' | 'notifiers' | 'notifier' | 'guardConfig' | 'watch' | 'digest' | 'digestReport'
> {
  const notifiers: Notifier[] = [];
  const consoleNotifier = createConsoleNotifier(consoleOutput);
  const channels = fanOut(notifiers, (name, err) =>
    logger.error({ channel: name, err: String(err) }, 'posting to a channel failed'),
  );
  const notifier: Notifier = {
    get name() {
      return notifiers.length > 0 ? notifiers.map((n) => n.name).join('+') : consoleNotifier.name;
    },
    post: (report) => (notifiers.length > 0 ? channels.post(report) : consoleNotifier.post(report)),
  };
  const guardConfig: GuardConfig = {
    environment: config.environment,
    target: { name: target.name, display: target.display, host: parsePostgresUrl(url).host },
    backupMaxAgeMs: config.guard.backupMaxAgeMs,
    rowsDropPct: config.guard.rowsDropPct,
    unreachableChecks: config.guard.unreachableChecks,
    drillsConfigured: config.backup.drillCron !== null,
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
  const report = async () => digestReport(await digest(), config.timezone);
  return { store, clock, notifiers, notifier, guardConfig, watch, digest, digestReport: report };
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
