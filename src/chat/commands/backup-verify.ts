import { drillFailedReport, drillOkReport, drillProgressReport } from '../../backup/backup-report.js';
import type { Config } from '../../core/config.js';
import { echo } from '../../core/echo.js';
import { asDbwardenError, DbwardenError } from '../../core/errors.js';
import { formatAge, formatTime } from '../../core/format.js';
import type { DbIdentity } from '../../core/identity.js';
import type { Report } from '../../core/report.js';
import type { Catalog } from '../../store/catalog.js';
import { LATEST } from '../../store/catalog.js';
import type { BackupManifest } from '../../store/manifest.js';
import {
  type ChatCommand,
  type ChatUser,
  type CommandInfo,
  refusalReport,
  usageReport,
} from '../commands.js';
import { backupUsers, displayName, requesterOf } from './backup-users.js';

export interface BackupVerifyDeps {
  catalog: Pick<Catalog, 'resolve' | 'read'>;
  /** services.whoseBackups: whose newest good backup `latest` names. */
  whoseBackups: () => Promise<DbIdentity | null>;
  /**
   * Checksum, archive list and restore drill, recorded in the manifest: verifyAndRecord as `verify --drill` runs it.
   * Throws `drill-running` when a drill runs elsewhere (the schedule, the CLI, a replica).
   */
  drill: (
    m: BackupManifest,
    requestedBy: string,
  ) => Promise<{ manifest: BackupManifest; problem: DbwardenError | null }>;
  config: Pick<Config, 'backup' | 'timezone'>;
  target: { name: string };
  clock?: () => Date;
  /** How often the progress message is refreshed with the time taken (ms). */
  tickMs?: number;
}

/** A backup ref as typed: `latest`, an id, or a prefix of either part; anything else is not one. */
const REF = /^[A-Za-z0-9.:-]{1,40}$/;

/** `/backup-verify`'s name, description and usage: what registering it needs. */
export const backupVerifyInfo: CommandInfo = {
  name: 'backup-verify',
  description:
    'Restore drill of a backup (default: the newest): restore, compare row counts, record the result',
  usage: '[id]',
};

/**
 * `/backup-verify [id]`: a restore drill of one backup (default: the newest good one) from chat, with the time it
 * has taken, the row counts compared and the result recorded in its manifest. Authorised like /backup-now, and one
 * at a time: a drill restores a whole database into a scratch one.
 */
export function backupVerifyCommand(deps: BackupVerifyDeps): ChatCommand {
  const clock = deps.clock ?? (() => new Date());
  const users = backupUsers(deps.config);
  let running: { by: string; ref: string; startedAt: Date } | null = null;

  const check = (args: string, user: ChatUser): Report | null => {
    const ref = args.trim();
    if (ref !== '' && !REF.test(ref))
      return usageReport(command, 'takes one backup id, its last characters, or `latest`', args);
    const refused = users.refuse(user, `run restore drills of ${deps.target.name}`);
    if (refused) return refused;
    if (running)
      return refusalReport(
        'Drill already running',
        new DbwardenError(
          'backup-running',
          `A restore drill of ${deps.target.name} (${echo(running.ref)}) is already running: started by ${running.by} at ${formatTime(running.startedAt, deps.config.timezone)} (${formatAge(clock().getTime() - running.startedAt.getTime())})`,
          'Its result is posted when it finishes.',
        ),
      );
    return null;
  };

  const command: ChatCommand = {
    ...backupVerifyInfo,
    check,
    async run(args, user, reply) {
      // Asked again: between the runner's check and now, another drill may have started.
      const refusal = check(args, user);
      if (refusal) {
        await reply.update(refusal);
        return;
      }
      const ref = args.trim() || LATEST;
      const by = displayName(user);
      const startedAt = clock();
      running = { by, ref, startedAt };
      try {
        const m = await deps.catalog
          .resolve(ref, deps.whoseBackups)
          .then((id) => deps.catalog.read(id))
          .catch((err: unknown) => {
            const e = asDbwardenError(err);
            if (e.code === 'backup-not-found' || e.code === 'backup-ambiguous') return e;
            throw e;
          });
        // A typo is not an incident: a warning saying what to type, never the siren.
        if (!m || m instanceof DbwardenError) {
          const e =
            m ??
            new DbwardenError(
              'backup-not-found',
              `No backup ${echo(ref)} in the store`,
              'List them with /db-backups.',
            );
          await reply.update(
            refusalReport('Unknown backup', {
              message: e.message,
              hint: 'List them with /db-backups; type a short id from there, or `latest`.',
            }),
          );
          return;
        }
        const progress = () =>
          reply.update(
            drillProgressReport(deps.target.name, m.id, clock().getTime() - startedAt.getTime(), by),
          );
        await progress();
        const timer = setInterval(() => void progress().catch(() => {}), deps.tickMs ?? 5_000);
        let result: Awaited<ReturnType<BackupVerifyDeps['drill']>>;
        try {
          result = await deps.drill(m, requesterOf(user));
        } catch (err) {
          const e = asDbwardenError(err);
          if (e.code !== 'drill-running') throw e;
          // Another process's drill: the in-process check above cannot see it, the target's drill lock did.
          await reply.update(refusalReport('Drill already running', e));
          return;
        } finally {
          clearInterval(timer);
        }
        await reply.update(
          result.problem
            ? drillFailedReport(deps.target.name, m.id, asDbwardenError(result.problem))
            : drillOkReport(deps.target.name, result.manifest),
        );
      } finally {
        running = null;
      }
    },
  };
  return command;
}
