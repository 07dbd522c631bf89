import {
  backupDoneReport,
  backupFailedReport,
  drillFailedReport,
  drillOkReport,
  drillSkippedReport,
} from '../backup/backup-report.js';
import type { BackupService } from '../backup/service.js';
import { asDbwardenError, DbwardenError } from '../core/errors.js';
import { notePosted } from '../guard/watch.js';
import type { Services } from '../main.js';
import type { BackupManifest } from '../store/manifest.js';
import { createScheduler, type Job, type Scheduler, type TickOutcome } from './schedule.js';

/** Take the scheduled backup and post the result; a failure is posted once and kept open as backup-failed. */
export async function runScheduledBackup(
  services: Services,
  backups: BackupService,
  signal?: AbortSignal,
): Promise<void> {
  try {
    const m = await backups.run({ requestedBy: 'schedule', ...(signal ? { signal } : {}) });
    await services.notifier.post(backupDoneReport(m, services.store.location, services.config.timezone));
  } catch (err) {
    await services.notifier.post(backupFailedReport(services.target.name, asDbwardenError(err), 'schedule'));
    // The watch would post the failed manifest again: record that the channel already knows.
    // The store may be what failed: the note is kept in memory then, and the backup's error is the one to raise.
    await notePosted(
      services.store,
      { code: 'backup-failed', level: 'critical', title: 'Backup failed' },
      services.clock(),
    ).catch((noteErr: unknown) =>
      services.logger.warn({ err: String(noteErr) }, 'could not note the posted backup failure in the store'),
    );
    throw err;
  }
}

/** Restore-drill the newest good backup (checksum, archive, restore into a scratch database) and post the result. */
export async function runScheduledDrill(services: Services): Promise<void> {
  const m = await services.backups.latestGood();
  if (!m) {
    await services.notifier.post(drillSkippedReport(services.target.name));
    return;
  }
  const drilled = await services.verify(m, { drill: true, requestedBy: 'schedule' }).catch((err: unknown) => {
    // A drill running elsewhere (/backup-verify, the CLI): this one is skipped and says so, not a job failure.
    const e = asDbwardenError(err);
    if (e.code === 'drill-running') return e;
    throw err;
  });
  if (drilled instanceof DbwardenError) {
    await services.notifier.post(drillFailedReport(services.target.name, m.id, drilled));
    return;
  }
  const { manifest, problem } = drilled;
  if (problem) {
    await services.notifier.post(drillFailedReport(services.target.name, m.id, asDbwardenError(problem)));
    // No age identity where the drill runs: skipped, by design (the key stays off the server); not a job failure.
    if (asDbwardenError(problem).code === 'drill-no-identity') return;
    throw problem;
  }
  await services.notifier.post(drillOkReport(services.target.name, manifest));
}

export interface ScheduleOptions {
  backups?: BackupService | null;
  instanceId?: string;
  settleMs?: number;
  /** Aborts a running scheduled backup (serve's shutdown). */
  signal?: AbortSignal;
  /** How long after start a catch-up backup waits, so a crash-looping process does not dump at every start. */
  catchUpDelayMs?: number;
}

/** The serve-time jobs: watch, backup, digest and (with DBWARDEN_DRILL_CRON) drill, on the config's crons and zone. */
export function scheduledJobs(services: Services, opts: ScheduleOptions = {}): Job[] {
  const { config } = services;
  const jobs: Job[] = [
    { name: 'watch', cron: config.schedule.watchCron, run: async () => void (await services.watch()) },
    {
      name: 'digest',
      cron: config.schedule.digestCron,
      run: async () => services.notifier.post(await services.digestReport()),
    },
  ];
  const backups = opts.backups;
  if (backups)
    jobs.push({
      name: 'backup',
      cron: config.schedule.backupCron,
      run: () => runScheduledBackup(services, backups, opts.signal),
    });
  if (config.backup.drillCron)
    jobs.push({ name: 'drill', cron: config.backup.drillCron, run: () => runScheduledDrill(services) });
  return jobs;
}

/** How a catch-up ended: a tick outcome, cancelled by shutdown, or not needed any more ("fresh"). */
export type CatchUpOutcome = TickOutcome | 'cancelled' | 'fresh';

/**
 * Build and start the scheduler for `serve`. If dbwarden was down at backup time (newest good backup of this
 * database older than the max age), one catch-up backup runs a minute after start, once across replicas —
 * unless a good backup became fresh meanwhile (/backup-now, another replica): checked again when the timer fires.
 */
export async function startSchedule(
  services: Services,
  opts: ScheduleOptions = {},
): Promise<Scheduler & { catchUp: Promise<CatchUpOutcome> | null }> {
  const scheduler = createScheduler(scheduledJobs(services, opts), {
    store: services.store,
    target: services.target,
    timezone: services.config.timezone,
    clock: services.clock,
    logger: services.logger,
    ...(opts.instanceId ? { instanceId: opts.instanceId } : {}),
    ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
  });
  scheduler.start();
  let catchUp: Promise<CatchUpOutcome> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let cancel: () => void = () => {};
  // The newest good backup of this database (undefined: the catalog cannot be read).
  const newestGood = (backups: BackupService) =>
    backups.latestGood().catch((err: unknown) => {
      services.logger.warn({ err: String(err) }, 'cannot read the backup catalog');
      return undefined;
    });
  const ageOf = (m: BackupManifest | null) =>
    m ? services.clock().getTime() - Date.parse(m.finishedAt) : Infinity;
  const backups = opts.backups;
  const newest = backups ? await newestGood(backups) : undefined;
  if (backups && newest !== undefined) {
    const age = ageOf(newest);
    if (age > services.config.guard.backupMaxAgeMs) {
      const delay = opts.catchUpDelayMs ?? 60_000;
      services.logger.info({ newest: newest?.id ?? null, inMs: delay }, 'newest backup too old: catching up');
      catchUp = new Promise<CatchUpOutcome>((resolve) => {
        let cancelled = false;
        cancel = () => {
          cancelled = true;
          resolve('cancelled');
        };
        timer = setTimeout(async () => {
          // Decided at start; a good backup taken since (/backup-now, a replica) makes a second full dump pointless.
          const now = await newestGood(backups);
          if (cancelled) return;
          if (now && ageOf(now) <= services.config.guard.backupMaxAgeMs) {
            services.logger.info({ newest: now.id }, 'a good backup is fresh now: no catch-up');
            return resolve('fresh');
          }
          // Keyed by the stale backup: every replica starting now agrees on one catch-up.
          scheduler
            .runTick('backup', services.clock(), `catchup-${newest?.id ?? 'none'}`)
            .catch((): TickOutcome => 'failed')
            .then(resolve);
        }, delay);
        timer.unref();
      });
    }
  } else if (backups) services.logger.warn('no catch-up backup: the backup catalog cannot be read');
  const stopTimers = scheduler.stop;
  return Object.assign(scheduler, {
    catchUp,
    async stop() {
      if (timer) clearTimeout(timer);
      cancel();
      await stopTimers();
    },
  });
}
