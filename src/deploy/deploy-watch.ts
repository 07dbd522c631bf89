import type { BackupService } from '../backup/service.js';
import type { BlobStore } from '../backup/store/blob-store.js';
import { asDbwardenError } from '../core/errors.js';
import type { Notifier } from '../core/notifier.js';
import { errorReport, type Report } from '../core/report.js';
import type { DbStatus } from '../core/status.js';
import type { Logger } from '../log.js';
import { type Baseline, baselineOf, diffBaseline, readBaseline, writeBaseline } from './baseline.js';
import { deployReport } from './deploy-report.js';
import type { DeployEvent } from './webhooks.js';

export interface DeployWatchDeps {
  status: () => Promise<DbStatus>;
  store: BlobStore;
  notifier: Notifier;
  logger: Logger;
  backups?: BackupService | null;
  backupOnDeploy: boolean;
}

/** Acts on deploy webhooks: a reading (and optional backup) at the start, a deploy report at the end. */
export interface DeployWatch {
  handle(event: DeployEvent): Promise<Report | null>;
}

const MAX_OPEN_DEPLOYS = 100;

export function createDeployWatch(deps: DeployWatchDeps): DeployWatch {
  // Readings taken when deploys started, by deploy id; the remembered baseline covers a missed start event.
  const started = new Map<string, Baseline>();

  async function onStarted(event: DeployEvent): Promise<Report | null> {
    const s = await deps.status();
    if (s.reachable) {
      started.set(event.deployId, baselineOf(s));
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
    const before = started.get(event.deployId) ?? (await readBaseline(deps.store));
    started.delete(event.deployId);
    const diff = before && now.reachable ? diffBaseline(before, now) : null;
    const report = deployReport(event, now, diff);
    await deps.notifier.post(report);
    // Remember a healthy reading; an alarming one stays unaccepted so the next check still compares with the old.
    if (now.reachable && report.level !== 'critical') await writeBaseline(deps.store, baselineOf(now));
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
