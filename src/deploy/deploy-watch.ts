import type { BackupService } from '../backup/service.js';
import { asDbwardenError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Notifier } from '../core/notifier.js';
import { errorReport, type Report } from '../core/report.js';
import { type Snapshot, snapshotFromStatus } from '../core/snapshot.js';
import type { DbStatus } from '../core/status.js';
import type { GuardConfig } from '../guard/guard.js';
import { baselineSnapshot } from '../guard/watch-state.js';
import type { BlobStore } from '../store/blob-store.js';
import { dataLossWarnings, describeChanges, rememberFirstSight } from './baseline.js';
import { deployReport } from './deploy-report.js';
import type { DeployEvent } from './webhooks.js';

export interface DeployWatchDeps {
  status: () => Promise<DbStatus>;
  store: BlobStore;
  notifier: Notifier;
  logger: Logger;
  guardConfig: GuardConfig;
  clock: () => Date;
  backups?: BackupService | null;
  backupOnDeploy: boolean;
}

/** Acts on deploy webhooks: a reading (and optional backup) at the start, a deploy report at the end. */
export interface DeployWatch {
  handle(event: DeployEvent): Promise<Report | null>;
}

const MAX_OPEN_DEPLOYS = 100;

interface StartReading {
  snapshot: Snapshot;
  migrations: { applied: number } | null;
}

export function createDeployWatch(deps: DeployWatchDeps): DeployWatch {
  // Readings taken when deploys started, by deploy id; the guard's baseline covers a missed start event.
  const started = new Map<string, StartReading>();

  async function onStarted(event: DeployEvent): Promise<Report | null> {
    const s = await deps.status();
    const snapshot = snapshotFromStatus(s);
    if (snapshot) {
      started.set(event.deployId, { snapshot, migrations: s.migrations });
      if (started.size > MAX_OPEN_DEPLOYS) started.delete(started.keys().next().value as string);
    }
    if (deps.backupOnDeploy && deps.backups) {
      try {
        const m = await deps.backups.run({ requestedBy: 'deploy' });
        deps.logger.info({ deploy: event.deployId, backup: m.id }, 'pre-deploy backup taken');
      } catch (err) {
        const report = errorReport('Pre-deploy backup failed', asDbwardenError(err));
        await deps.notifier.post(report);
        return report;
      }
    }
    return null;
  }

  async function onFinished(event: DeployEvent): Promise<Report> {
    const now = await deps.status();
    const start = started.get(event.deployId);
    started.delete(event.deployId);
    const before = start?.snapshot ?? (await baselineSnapshot(deps.store));
    const current = snapshotFromStatus(now);
    const changes = before && now.reachable ? describeChanges(before, start?.migrations ?? null, now) : null;
    const dataLoss =
      before && current
        ? await dataLossWarnings(deps.store, before, current, deps.guardConfig, deps.clock())
        : [];
    const report = deployReport(event, now, changes, dataLoss, deps.guardConfig.timezone);
    await deps.notifier.post(report);
    if (!before) await rememberFirstSight(deps.store, now);
    return report;
  }

  // One event at a time, in arrival order: a quick "succeeded" must not overtake the reading of its "started".
  let queue: Promise<unknown> = Promise.resolve();
  return {
    handle(event) {
      const log = deps.logger.child({ deploy: event.deployId, phase: event.phase });
      const next = queue.then(async () => {
        try {
          return event.phase === 'started' ? await onStarted(event) : await onFinished(event);
        } catch (err) {
          log.error({ err: asDbwardenError(err).toJSON() }, 'deploy check failed');
          return null;
        }
      });
      queue = next;
      return next;
    },
  };
}
