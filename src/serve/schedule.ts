import { randomBytes } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
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
    if (!cron.validate(j.cron)) throw new Error(`invalid cron expression for ${j.name}: ${j.cron}`);

  const markerBody = (state: string) =>
    JSON.stringify({ by: instanceId, state, at: deps.clock().toISOString() });

  /** Under the advisory lock: take the tick unless a marker (or another replica's claim) is there. */
  async function claimWithLock(job: string, tickId: string): Promise<boolean | null> {
    if (!deps.target) return null;
    try {
      return await deps.target.withClient(async (client) => {
        const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
          LOCK_CLASS,
          lockId(job),
        ]);
        if (!got.rows[0]?.ok) return false;
        try {
          const seen = await deps.store.list(`${RUNS_PREFIX}${job}/${tickId}`);
          if (seen.some((b) => !b.key.includes(`-claim-${instanceId}`))) return false;
          await deps.store.put(runMarkerKey(job, tickId), markerBody('running'));
          return true;
        } finally {
          await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, lockId(job)]);
        }
      });
    } catch (err) {
      log?.debug({ job, err: String(err) }, 'advisory lock unavailable; using a store lease');
      return null;
    }
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
      if (await deps.store.stat(runMarkerKey(name, tickId))) return 'elsewhere';
      const won = (await claimWithLock(name, tickId)) ?? (await claimWithStore(name, tickId));
      if (!won) {
        log?.debug({ job: name, tick: tickId }, 'tick taken by another replica');
        return 'elsewhere';
      }
      log?.info({ job: name, tick: tickId, instance: instanceId }, 'scheduled job starting');
      try {
        await job.run(tick);
        await deps.store.put(runMarkerKey(name, tickId), markerBody('done'));
        return 'ran';
      } catch (err) {
        log?.error({ job: name, tick: tickId, err: String(err) }, 'scheduled job failed');
        await deps.store.put(runMarkerKey(name, tickId), markerBody('failed')).catch(() => {});
        return 'failed';
      } finally {
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
        const task = cron.schedule(
          j.cron,
          async (ctx) => {
            await runTick(j.name, ctx.date);
          },
          { timezone: deps.timezone, name: `dbwarden-${j.name}-${instanceId}`, noOverlap: true },
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
      const t = cron.createTask(j.cron, () => {}, { timezone: deps.timezone });
      const next = t.getNextRun();
      void t.destroy();
      return next;
    },
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
