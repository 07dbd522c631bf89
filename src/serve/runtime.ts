import type { BackupService } from '../backup/service.js';
import type { BlobStore } from '../backup/store/blob-store.js';
import type { ChatCommand } from '../chat/commands.js';
import type { Notifier } from '../core/notifier.js';
import { loadWatchState } from '../core/watch.js';
import { rememberFirstSight } from '../deploy/baseline.js';
import { createDeployWatch } from '../deploy/deploy-watch.js';
import { mountDeployWebhooks } from '../deploy/webhook-route.js';
import { createHttpServer, type HttpServer } from '../http.js';
import { mountOpsRoutes, throttleRefresh } from '../http-routes.js';
import type { Services } from '../main.js';
import type { Metrics } from '../metrics.js';
import { type ChatLink, checkReadiness } from '../readiness.js';
import { drainBackups } from '../shutdown.js';

export interface RuntimeDeps {
  services: Services;
  store: BlobStore;
  notifier: Notifier;
  chats: () => ChatLink[];
  backups: BackupService | null;
  /** Aborts running backups (see abortableBackups). */
  abortBackups: () => void;
  /** Listen for SIGTERM/SIGINT (the CLI does; in-process tests call shutdown themselves). */
  signals: boolean;
  /** Shortest time between two database probes for /metrics (default 15 s). */
  metricsRefreshMs?: number;
}

/** What `serve` runs besides the chats: the HTTP server, deploy hooks, and the orderly way out. */
export interface Runtime {
  http: HttpServer | null;
  stopping(): boolean;
  /** Resolves with the signal's name once SIGTERM/SIGINT arrives (or shutdown is requested). */
  stopRequested: Promise<string>;
  /** Resolves once every accepted deploy check has finished. */
  settled(): Promise<void>;
  /** Stop taking commands and webhooks, drain the running backup, close the HTTP server. Idempotent. */
  shutdown(reason: string): Promise<void>;
}

/** Start the HTTP server when PORT is set, remember the database on first sight, and install signal handlers. */
export async function startRuntime(d: RuntimeDeps): Promise<Runtime> {
  const { services } = d;
  const { config, logger } = services;
  let stopping = false;
  let requestStop: (reason: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    requestStop = resolve;
  });
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  gateCommands(services.commands, () => stopping, services.metrics);

  let http: HttpServer | null = null;
  if (config.port !== null) {
    http = createHttpServer({ logger });
    mountOpsRoutes(http, {
      metrics: services.metrics,
      readiness: () =>
        checkReadiness({
          target: services.target,
          store: d.store,
          chats: d.chats,
          timeoutMs: Math.min(5000, config.connectTimeoutMs + 1000),
          stopping: () => stopping,
        }),
      refreshMetrics: throttleRefresh(async () => {
        await services.status();
        // Open warnings are the guard's (posted and not cleared); last-success survives restarts via the store.
        const state = await loadWatchState(d.store);
        services.metrics.openWarnings(Object.keys(state.open));
        services.metrics.lastGoodBackup(await (d.backups?.latestGood() ?? Promise.resolve(null)));
      }, d.metricsRefreshMs ?? 15_000),
    });
    if (config.deploy.webhookSecret) {
      const watch = createDeployWatch({
        status: services.status,
        store: d.store,
        notifier: d.notifier,
        logger,
        guardConfig: services.guardConfig,
        clock: services.clock,
        backups: d.backups,
        backupOnDeploy: config.deploy.backupOnDeploy,
      });
      mountDeployWebhooks(http, {
        secret: config.deploy.webhookSecret,
        logger,
        stopping: () => stopping,
        onEvent: (event) => track(watch.handle(event)),
      });
    }
    const port = await http.listen(config.port);
    logger.info({ port }, 'http listening');
  }

  // The first sight of the database is remembered, so preflight and deploy checks can tell a replaced one.
  track(
    (async () => {
      await rememberFirstSight(d.store, await services.status());
    })().catch((err: unknown) => logger.warn({ err }, 'could not remember the database identity')),
  );

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutdown requested');
    requestStop(signal);
  };
  if (d.signals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  let done: Promise<void> | null = null;
  return {
    http,
    stopping: () => stopping,
    stopRequested,
    async settled() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    shutdown(reason) {
      done ??= (async () => {
        stopping = true;
        requestStop(reason);
        if (d.signals) {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        const backup = await drainBackups({
          backups: d.backups,
          graceMs: config.shutdownGraceMs,
          abort: d.abortBackups,
          notifier: d.notifier,
          logger,
          environment: config.environment,
        });
        // Deploy checks already accepted get a short while to post their report.
        await Promise.race([
          Promise.allSettled([...pending]),
          new Promise((r) => setTimeout(r, 5000).unref()),
        ]);
        await http?.close();
        logger.info({ reason, backup }, 'dbwarden stopped');
      })();
      return done;
    },
  };
}

/** Commands are timed for /metrics; once shutdown begins they answer that dbwarden is restarting instead. */
function gateCommands(commands: ChatCommand[], stopping: () => boolean, metrics: Metrics): void {
  commands.forEach((c, i) => {
    commands[i] = {
      ...c,
      async run(args, user, reply) {
        if (stopping())
          return reply.update({
            title: 'dbwarden is restarting',
            level: 'warn',
            summary: 'dbwarden is shutting down and takes no new commands; try again in a minute.',
            fields: [],
            sections: [],
          });
        const started = performance.now();
        try {
          return await c.run(args, user, reply);
        } finally {
          metrics.commandAnswered(user.platform ?? 'chat', c.name, (performance.now() - started) / 1000);
        }
      },
    };
  });
}
