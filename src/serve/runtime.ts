import type { BackupService } from '../backup/service.js';
import { createHttpServer, type HttpServer } from '../core/http.js';
import type { Notifier } from '../core/notifier.js';
import { rememberFirstSight } from '../deploy/baseline.js';
import { createDeployWatch } from '../deploy/deploy-watch.js';
import { mountDeployWebhooks } from '../deploy/webhook-route.js';
import { loadWatchState } from '../guard/watch-state.js';
import type { Services } from '../main.js';
import type { BlobStore } from '../store/blob-store.js';
import { mountOpsRoutes, throttleRefresh } from './http-routes.js';
import type { Metrics } from './metrics.js';
import { mountRemotePreflight } from './preflight-route.js';
import { type ChatLink, checkReadiness } from './readiness.js';
import { drainBackups } from './shutdown.js';

export interface RuntimeDeps {
  services: Services;
  /** serve's Prometheus metrics, exposed on /metrics. */
  metrics: Metrics;
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

  let http: HttpServer | null = null;
  if (config.port !== null) {
    http = createHttpServer({ logger });
    mountOpsRoutes(http, {
      metrics: d.metrics,
      readiness: () =>
        checkReadiness({
          target: services.target,
          store: d.store,
          chats: d.chats,
          timeoutMs: Math.min(5000, config.connectTimeoutMs + 1000),
          stopping: () => stopping,
        }),
      refreshMetrics: throttleRefresh(async () => {
        // The watched tables' counts from the last watch round: a scrape every 15 s need not count(*) them again.
        d.metrics.statusProbed(await services.shownStatus());
        // Open warnings are the guard's (posted and not cleared); last-success survives restarts via the store.
        const state = await loadWatchState(d.store);
        d.metrics.openWarnings(Object.keys(state.open));
        d.metrics.lastGoodBackup(await (d.backups?.latestGood() ?? Promise.resolve(null)));
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
        store: d.store,
        clock: services.clock,
        stopping: () => stopping,
        onEvent: (event) => track(watch.handle(event)),
      });
    }
    if (config.deploy.apiToken)
      mountRemotePreflight(http, {
        token: config.deploy.apiToken,
        host: services,
        logger,
        redact: services.redact,
        stopping: () => stopping,
        track,
      });
    const port = await http.listen(config.port);
    logger.info({ port }, 'http listening');
  }

  // The first sight of the database is remembered, so preflight and deploy checks can tell a replaced one.
  track(
    (async () => {
      await rememberFirstSight(d.store, await services.status());
    })().catch((err: unknown) => logger.warn({ err }, 'could not remember the database identity')),
  );

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // Wrappers (npm, tsx, some process managers) may forward one stop twice: a repeat must not kill a backup
    // mid-write; the shutdown grace already bounds how long we take.
    if (signalled) return logger.info({ signal }, 'already stopping');
    signalled = true;
    logger.info({ signal }, 'shutdown requested');
    requestStop(signal);
  };
  if (d.signals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
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
        const backup = await drainBackups({
          backups: d.backups,
          graceMs: config.shutdownGraceMs,
          abort: d.abortBackups,
          notifier: d.notifier,
          logger,
          environment: services.target.environment,
          targetName: services.target.name,
        });
        // Deploy checks already accepted get a short while to post their report.
        await Promise.race([
          Promise.allSettled([...pending]),
          new Promise((r) => setTimeout(r, 5000).unref()),
        ]);
        await http?.close();
        if (d.signals) {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        logger.info({ reason, backup }, 'dbwarden stopped');
      })();
      return done;
    },
  };
}
