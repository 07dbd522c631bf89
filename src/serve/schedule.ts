import { randomBytes } from 'node:crypto';
import type { ScheduledTask, TaskOptions } from 'node-cron';
import { cronLib } from '../core/cron.js';
import type { Logger } from '../core/log.js';
import { compactTime } from '../core/snapshot.js';
import type { Target } from '../core/target.js';
import type { Services } from '../main.js';
import { type BlobStore, readText } from '../store/blob-store.js';

/** One scheduled job: a cron expression (5 or 6 fields, in the scheduler's time zone) and what to run. */
export interface Job {
  name: string;
  cron: string;
  run(tick: Date): Promise<void>;
}

export interface SchedulerDeps {
  store: BlobStore;
  /** The guarded database: its advisory lock elects the runner of a tick. Null or down: a lease in the store. */
  target: Target | null;
  timezone: string;
  clock: () => Date;
  logger?: Logger;
  /** Tells replicas apart in run markers and store leases. */
  instanceId?: string;
  /** How long store-lease claims settle before the lowest claim wins. */
  settleMs?: number;
  /** Run markers older than this are deleted. */
  keepMarkersMs?: number;
}

export type TickOutcome =
  | 'ran'
  | 'failed'
  /** This process is still running the previous tick of the job. */
  | 'overlap'
  /** Another replica ran (or runs) this tick. */
  | 'elsewhere';

export interface Scheduler {
  readonly instanceId: string;
  /** Start the cron timers. */
  start(): void;
  /** Stop the timers and wait for running jobs to finish. */
  stop(): Promise<void>;
  /** Run one tick of a job, at most once across replicas sharing the store; what cron calls. */
  runTick(job: string, tick: Date, tickId?: string): Promise<TickOutcome>;
  /** When the job runs next (in absolute time), or null. */
  nextRun(job: string): Date | null;
}

export const RUNS_PREFIX = 'state/runs/';
/** Advisory lock class for schedule ticks ("ds"); the backup service uses its own. */
const LOCK_CLASS = 0x6473;

/** The store key marking a tick as taken: "state/runs/<job>/<tick>.json". */
export function runMarkerKey(job: string, tickId: string): string {
  return `${RUNS_PREFIX}${job}/${tickId}.json`;
}

function lockId(job: string): number {
  let h = 0;
  for (const c of job) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

/**
 * node-cron jobs in the configured time zone. A job never overlaps itself in one process, and across
 * replicas exactly one runs each tick: the first to write the tick's marker under the target's advisory lock
 * (or, with the target down, the lowest claim in the store after a settle delay) runs it; others skip.
 */
export function createScheduler(jobs: Job[], deps: SchedulerDeps): Scheduler {
  const instanceId = deps.instanceId ?? `${process.pid}-${randomBytes(3).toString('hex')}`;
  const settleMs = deps.settleMs ?? 1500;
  const running = new Map<string, Promise<unknown>>();
  const tasks = new Map<string, ScheduledTask>();
  const log = deps.logger;
  for (const j of jobs)
    if (!cronLib().validate(j.cron)) throw new Error(`invalid cron expression for ${j.name}: ${j.cron}`);

  const markerBody = (state: string) =>
    JSON.stringify({ by: instanceId, state, at: deps.clock().toISOString() });

  /** A store call the schedule can do without: logged (through our logger, redacted), never fatal. */
  async function storeStep<T>(job: string, action: string, fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      log?.error({ job, err: String(err), store: deps.store.location }, `schedule: could not ${action}`);
      return fallback;
    }
  }

  /**
   * Under the advisory lock: take the tick unless a marker (or another replica's claim) is there. When the marker
   * cannot be written (store full or down) the lock alone keeps other replicas off: it is held while the job runs.
   * Null: the database does not answer.
   */
  async function claimWithLock(job: string, tickId: string): Promise<Claim | null> {
    if (!deps.target) return null;
    let settle!: (c: Claim | null) => void;
    const claimed = new Promise<Claim | null>((r) => {
      settle = r;
    });
    let letGo!: () => void;
    const finished = new Promise<void>((r) => {
      letGo = r;
    });
    const session = deps.target.withClient(async (client) => {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
        LOCK_CLASS,
        lockId(job),
      ]);
      if (!got.rows[0]?.ok) return settle(LOST);
      try {
        const seen = await storeStep(
          job,
          'read the run markers',
          () => deps.store.list(`${RUNS_PREFIX}${job}/${tickId}`),
          null,
        );
        if (seen?.some((b) => !b.key.includes(`-claim-${instanceId}`))) return settle(LOST);
        const marked = await storeStep(
          job,
          'write the run marker',
          async () => Boolean(await deps.store.put(runMarkerKey(job, tickId), markerBody('running'))),
          false,
        );
        if (marked) return settle(WON);
        const since = Date.now();
        settle({
          won: true,
          release: async () => {
            letGo();
            await session.catch(() => {});
          },
        });
        await finished;
        // A replica whose timer fires a moment later still finds the tick taken.
        const rest = settleMs - (Date.now() - since);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, lockId(job)]);
      }
    });
    session.catch((err) => {
      log?.debug({ job, err: String(err) }, 'advisory lock unavailable; using a store lease');
      settle(null);
    });
    return claimed;
  }

  /** Without the database: claim in the store, let claims settle, the lowest claim takes the tick. */
  async function claimWithStore(job: string, tickId: string): Promise<boolean> {
    const prefix = `${RUNS_PREFIX}${job}/${tickId}`;
    const mine = `${prefix}-claim-${instanceId}.json`;
    await deps.store.put(mine, markerBody('claim'));
    await new Promise((r) => setTimeout(r, settleMs));
    const seen = await deps.store.list(prefix);
    if (seen.some((b) => b.key === runMarkerKey(job, tickId))) return false;
    const claims = seen.filter((b) => b.key.startsWith(`${prefix}-claim-`)).map((b) => b.key);
    if (claims.sort()[0] !== mine) return false;
    await deps.store.put(runMarkerKey(job, tickId), markerBody('running'));
    return true;
  }

  async function pruneMarkers(job: string): Promise<void> {
    const horizon = deps.clock().getTime() - (deps.keepMarkersMs ?? 3 * 86_400_000);
    for (const b of await deps.store.list(`${RUNS_PREFIX}${job}/`))
      if (b.modified.getTime() < horizon) await deps.store.delete(b.key);
  }

  async function runTick(
    name: string,
    tick: Date,
    tickId = compactTime(tick.toISOString()),
  ): Promise<TickOutcome> {
    const job = jobs.find((j) => j.name === name);
    if (!job) throw new Error(`no such job: ${name}`);
    if (running.has(name)) {
      log?.warn({ job: name, tick: tickId }, 'previous run still going; tick skipped');
      return 'overlap';
    }
    let done!: () => void;
    running.set(name, new Promise<void>((r) => (done = r)));
    try {
      // The store may be full or down: the job still runs (the guard then posts store-failing).
      const marker = runMarkerKey(name, tickId);
      if (await storeStep(name, 'read the run marker', () => deps.store.stat(marker), null))
        return 'elsewhere';
      let claim = await claimWithLock(name, tickId);
      if (!claim) {
        try {
          claim = (await claimWithStore(name, tickId)) ? WON : LOST;
        } catch (err) {
          log?.error(
            { job: name, tick: tickId, err: String(err), store: deps.store.location },
            'neither the database lock nor the store can coordinate this tick: running it here',
          );
          claim = WON;
        }
      }
      if (!claim.won) {
        log?.debug({ job: name, tick: tickId }, 'tick taken by another replica');
        return 'elsewhere';
      }
      log?.info({ job: name, tick: tickId, instance: instanceId }, 'scheduled job starting');
      try {
        await job.run(tick);
        await storeStep(name, 'write the run marker', () => deps.store.put(marker, markerBody('done')), null);
        return 'ran';
      } catch (err) {
        log?.error({ job: name, tick: tickId, err: String(err) }, 'scheduled job failed');
        await deps.store.put(marker, markerBody('failed')).catch(() => {});
        return 'failed';
      } finally {
        await claim.release();
        await pruneMarkers(name).catch(() => {});
      }
    } finally {
      running.delete(name);
      done();
    }
  }

  return {
    instanceId,
    runTick,
    start() {
      for (const j of jobs) {
        const task = cronLib().schedule(
          j.cron,
          async (ctx) => {
            // Nothing may reach node-cron: it would print its own non-JSON lines, past the redactor.
            await runTick(j.name, ctx.date).catch((err: unknown) =>
              log?.error({ job: j.name, err: String(err) }, 'scheduled tick failed'),
            );
          },
          {
            timezone: deps.timezone,
            name: `dbwarden-${j.name}-${instanceId}`,
            noOverlap: true,
            logger: cronLogger(log),
          },
        );
        tasks.set(j.name, task);
      }
    },
    async stop() {
      for (const t of tasks.values()) await t.destroy();
      tasks.clear();
      await Promise.allSettled([...running.values()]);
    },
    nextRun(name) {
      const live = tasks.get(name);
      if (live) return live.getNextRun();
      const j = jobs.find((x) => x.name === name);
      if (!j) return null;
      const t = cronLib().createTask(j.cron, () => {}, { timezone: deps.timezone });
      const next = t.getNextRun();
      void t.destroy();
      return next;
    },
  };
}

/** How a tick was taken; `release` lets go of a lock held for the run (see claimWithLock). */
interface Claim {
  won: boolean;
  release(): Promise<void>;
}
const WON: Claim = { won: true, release: async () => {} };
const LOST: Claim = { won: false, release: async () => {} };

/** node-cron's own messages through our logger (JSON, redacted) instead of its `[NODE-CRON]` console lines. */
export function cronLogger(log: Logger | undefined): NonNullable<TaskOptions['logger']> {
  const text = (m: string | Error) => (m instanceof Error ? m.message : m);
  return {
    info: (m) => log?.debug({ source: 'node-cron' }, m),
    warn: (m) => log?.warn({ source: 'node-cron' }, m),
    error: (m, err) => log?.error({ source: 'node-cron', err: err ? String(err) : undefined }, text(m)),
    debug: (m, err) => log?.debug({ source: 'node-cron', err: err ? String(err) : undefined }, text(m)),
  };
}

/** Read a run marker (tests and `dbwarden status` use it to tell who ran a tick). */
export async function readRunMarker(
  store: BlobStore,
  job: string,
  tickId: string,
): Promise<{ by: string; state: string; at: string } | null> {
  if (!(await store.stat(runMarkerKey(job, tickId)))) return null;
  return JSON.parse(await readText(store, runMarkerKey(job, tickId)));
}

/** `dbwarden watch` without --once: the watch job alone, on DBWARDEN_WATCH_CRON, until SIGINT or SIGTERM. */
export async function runWatchLoop(services: Services): Promise<void> {
  const scheduler = createScheduler(
    [
      {
        name: 'watch',
        cron: services.config.schedule.watchCron,
        run: async () => void (await services.watch()),
      },
    ],
    {
      store: services.store,
      target: services.target,
      timezone: services.config.timezone,
      clock: services.clock,
      logger: services.logger,
    },
  );
  await services.watch();
  scheduler.start();
  services.logger.info({ next: scheduler.nextRun('watch')?.toISOString() }, 'watching');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await scheduler.stop();
}
