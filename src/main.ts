import { dbStatusCommand } from './chat/commands/db-status.js';
import type { ChatCommand } from './chat/commands.js';
import { type Config, loadConfig } from './config.js';
import type { Notifier } from './core/notifier.js';
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
  /** The team channels (Discord, Slack…) that scheduled posts go to; adapters add theirs when they start. */
  notifiers: Notifier[];
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
  const status = () => probeStatus({ target, watchTables: config.watchTables, clock });
  const services: Services = {
    config,
    target,
    logger,
    demo,
    status,
    statusReport: async () => statusReport(await status(), config.timezone),
    commands: [],
    notifiers: [],
    async close() {
      await target.close();
    },
  };
  services.commands.push(dbStatusCommand({ statusReport: services.statusReport }));
  return services;
}
