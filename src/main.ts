import { createBackupService } from './backup/backup-service.js';
import type { Catalog } from './backup/catalog.js';
import type { BackupService } from './backup/service.js';
import type { BlobStore } from './backup/store/blob-store.js';
import { openStore } from './backup/store/open-store.js';
import { backupNowCommand } from './chat/commands/backup-now.js';
import { dbStatusCommand } from './chat/commands/db-status.js';
import type { ChatCommand } from './chat/commands.js';
import { type Config, loadConfig } from './config.js';
import type { Report } from './core/report.js';
import { createRedactor } from './core/secrets.js';
import { type DbStatus, probeStatus } from './core/status.js';
import { statusReport } from './core/status-report.js';
import { createTarget, type Target } from './core/target.js';
import type { LocalCluster } from './demo/cluster.js';
import { startDemoDatabase } from './demo/demo.js';
import { createLogger, type Logger } from './log.js';

/** Everything built once from the config and passed down: the composition root. */
export interface Services {
  config: Config;
  target: Target;
  logger: Logger;
  demo: LocalCluster | null;
  status(): Promise<DbStatus>;
  statusReport(): Promise<Report>;
  commands: ChatCommand[];
  /** Where backups and dbwarden's memory live. */
  store: BlobStore;
  backups: BackupService;
  /** The manifests in the store: read, rewrite after verify, restore from. */
  catalog: Catalog;
  close(): Promise<void>;
}

export interface BuildOptions {
  env?: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  clock?: () => Date;
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
  const secrets = [
    config.slack?.botToken,
    config.slack?.appToken,
    config.slack?.signingSecret,
    config.discord?.token,
    config.deploy.webhookSecret,
  ];
  const redactSecrets = createRedactor(secrets);
  const logger = createLogger({
    level: config.logLevel,
    redact: (s) => target.redact(redactSecrets(s)),
    ...(opts.logDestination ? { destination: opts.logDestination } : {}),
  });
  const clock = opts.clock ?? (() => new Date());
  const backups = createBackupService({ target, store, config, clock, logger });
  const lastBackup = async () => {
    const m = await backups.latestGood();
    return m ? { id: m.id, finishedAt: m.finishedAt, verified: m.verified, sizeBytes: m.sizeBytes } : null;
  };
  const status = () => probeStatus({ target, watchTables: config.watchTables, clock, lastBackup });
  const services: Services = {
    config,
    target,
    logger,
    demo,
    status,
    statusReport: async () => statusReport(await status(), config.timezone),
    commands: [],
    store,
    backups,
    catalog: backups.catalog,
    async close() {
      await target.close();
    },
  };
  services.commands.push(dbStatusCommand({ statusReport: services.statusReport }));
  services.commands.push(backupNowCommand({ backups, config, clock, target, location: store.location }));
  return services;
}
