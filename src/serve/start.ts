import { findTool } from '../backup/pg-tools.js';
import type { ChatAdapter, ChatTuning } from '../chat/adapter.js';
import { runConsoleChat } from '../chat/console/console.js';
import { createCommandRunner } from '../chat/run-command.js';
import { configuredChats, startChats } from '../chat/start-chats.js';
import { asDbwardenError } from '../core/errors.js';
import { createHttpServer, type HttpServer } from '../core/http.js';
import { buildServices, type Services } from '../main.js';
import { createMetrics, type Metrics } from './metrics.js';
import { type Runtime, startRuntime } from './runtime.js';
import { type ScheduleOptions, startSchedule } from './scheduled-jobs.js';

export interface ServeOptions {
  env: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  clock?: () => Date;
  /**
   * The console chat on `input`/`output`: `auto` runs it on a terminal, or when nothing else could take
   * commands (no chat, no PORT); `off` never (tests, process managers).
   */
  console?: {
    mode: 'auto' | 'on' | 'off';
    input?: NodeJS.ReadableStream;
    output?: NodeJS.WritableStream;
  };
  /** Where channel posts go when no chat is configured (default: stdout). */
  consoleOutput?: NodeJS.WritableStream;
  /** Handle SIGTERM/SIGINT (the CLI does; tests call stop themselves). */
  signals?: boolean;
  chatTuning?: ChatTuning;
  schedule?: Pick<ScheduleOptions, 'instanceId' | 'settleMs' | 'catchUpDelayMs'>;
  /** Shortest time between two database probes for /metrics. */
  metricsRefreshMs?: number;
}

/** A running `dbwarden serve`. */
export interface Serving {
  services: Services;
  runtime: Runtime;
  metrics: Metrics;
  /** The chat platforms that started (Slack, Discord). */
  chats: readonly ChatAdapter[];
  /** Resolves with the reason once stopping was asked for: a signal, the console chat closing, or stop(). */
  stopRequested: Promise<string>;
  /** Stop taking commands, drain a running backup, disconnect the chats, close everything. Idempotent. */
  stop(reason?: string): Promise<void>;
}

/**
 * `dbwarden serve` as a library call (the CLI and the tests both run it): services from the environment,
 * HTTP and deploy hooks, every configured chat, the schedules, and the console chat when asked.
 */
export async function startServe(opts: ServeOptions): Promise<Serving> {
  // Made first: every backup (scheduled, /backup-now, deploy) stops when shutdown outlasts its grace.
  const shutdownAbort = new AbortController();
  const metrics = createMetrics();
  const services = await buildServices({
    env: opts.env,
    ...(opts.logDestination ? { logDestination: opts.logDestination } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.consoleOutput ? { consoleOutput: opts.consoleOutput } : {}),
    ...(opts.chatTuning ? { chatTuning: opts.chatTuning } : {}),
    shutdownSignal: shutdownAbort.signal,
    postPolicy: 'patient',
    backupMetrics: metrics,
    writesBackups: true,
    drillsUnattended: true,
  });
  const { config, logger } = services;
  // The pg_dump backups will use, named once at start: which client an image carries is a build choice.
  const pgDump = await findTool('pg_dump', config.backup.pgDump).catch(asDbwardenError);
  logger.info(
    {
      target: services.target.display,
      environment: services.target.environment,
      pgDump: pgDump instanceof Error ? null : { version: pgDump.version, path: pgDump.path },
    },
    'dbwarden serving',
  );
  if (pgDump instanceof Error)
    logger.warn({ problem: pgDump.message, hint: pgDump.hint }, 'no pg_dump: backups will fail');

  const chats: ChatAdapter[] = [];
  const runtime = await startRuntime({
    services,
    metrics,
    store: services.store,
    notifier: services.notifier,
    chats: () => chats,
    backups: services.backups,
    abortBackups: () => shutdownAbort.abort(),
    signals: opts.signals ?? false,
    ...(opts.metricsRefreshMs !== undefined ? { metricsRefreshMs: opts.metricsRefreshMs } : {}),
  });
  const runner = createCommandRunner({
    stopping: runtime.stopping,
    onAnswered: (platform, command, seconds) => metrics.commandAnswered(platform, command, seconds),
  });
  // Slack's HTTP mode without PORT still needs a server for POST /slack/events.
  const slackHttpOnly = config.slack && !config.slack.appToken && !runtime.http;
  const ownHttp: HttpServer | null = slackHttpOnly ? createHttpServer({ logger }) : null;
  let scheduler: Awaited<ReturnType<typeof startSchedule>> | null = null;
  const consoleAbort = new AbortController();
  let consoleClosed: Promise<void> | null = null;

  let stopped: Promise<void> | null = null;
  const stop = (reason = 'stop') => {
    stopped ??= (async () => {
      const schedulerStopped = scheduler?.stop();
      await runtime.shutdown(reason);
      await schedulerStopped;
      consoleAbort.abort();
      await Promise.allSettled(chats.map((c) => c.stop()));
      await ownHttp?.close();
      await services.close();
      services.demo?.stop();
    })();
    return stopped;
  };

  try {
    // Each chat is recorded as it comes up, so one refusing to start (a bad token) still gets the others stopped.
    await startChats(
      {
        config,
        environment: services.target.environment,
        commands: services.commands,
        runner,
        actions: services.actions,
        logger,
        redact: services.redact,
        http: runtime.http ?? ownHttp,
        ...(opts.chatTuning ? { tuning: opts.chatTuning } : {}),
      },
      (chat) => chats.push(chat),
    );
    if (ownHttp) {
      const port = await ownHttp.listen(3000);
      logger.info({ port }, 'HTTP server listening; Slack request URL path /slack/events');
    }
    // Once the chats are up, so the first posts reach them; one runner per tick across replicas.
    scheduler = await startSchedule(services, {
      backups: services.backups,
      signal: shutdownAbort.signal,
      ...opts.schedule,
    });
    const mode = opts.console?.mode ?? 'off';
    const input = opts.console?.input ?? process.stdin;
    const onTerminal = Boolean((input as { isTTY?: boolean }).isTTY);
    const nothingElse = configuredChats(config).length === 0 && config.port === null;
    if (mode === 'on' || (mode === 'auto' && (onTerminal || nothingElse))) {
      consoleClosed = runConsoleChat({
        commands: services.commands,
        runner,
        logger,
        input,
        ...(opts.console?.output ? { output: opts.console.output } : {}),
        signal: consoleAbort.signal,
      });
    }
  } catch (err) {
    await stop('start-up failed');
    throw err;
  }

  const stopRequested = consoleClosed
    ? Promise.race([runtime.stopRequested, consoleClosed.then(() => 'console closed')])
    : runtime.stopRequested;
  return { services, runtime, metrics, chats, stopRequested, stop };
}
