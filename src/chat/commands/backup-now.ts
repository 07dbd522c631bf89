import * as z from 'zod';
import { backupDoneReport, backupFailedReport, backupProgressReport } from '../../backup/backup-report.js';
import type { BackupService } from '../../backup/service.js';
import type { Config } from '../../core/config.js';
import { asDbwardenError, DbwardenError } from '../../core/errors.js';
import { formatAge, formatDuration, formatTime } from '../../core/format.js';
import type { Report } from '../../core/report.js';
import {
  type ChatCommand,
  type ChatUser,
  type CommandInfo,
  refusalReport,
  usageReport,
} from '../commands.js';
import { backupUsers, displayName, requesterOf } from './backup-users.js';

export interface BackupNowDeps {
  backups: BackupService;
  config: Pick<Config, 'backup' | 'timezone'>;
  clock?: () => Date;
  target: { name: string };
  /** Where backups are stored, shown in the confirmation. */
  location: string;
}

/** No arguments: anything else gets the usage. */
const Args = z.string().trim().max(0, 'takes no arguments');

/** `/backup-now`'s name, description and usage: what registering it needs. */
export const backupNowInfo: CommandInfo = {
  name: 'backup-now',
  description: 'Take a backup of the database now (progress, then size, checksum and verification)',
  usage: '',
};

/**
 * `/backup-now`: take a backup now, with live progress and a confirmation. Only DBWARDEN_BACKUP_USERS (user or
 * role IDs) may when it is set; otherwise anyone, with a cooldown between runs.
 */
export function backupNowCommand(deps: BackupNowDeps): ChatCommand {
  const clock = deps.clock ?? (() => new Date());
  const users = backupUsers(deps.config);
  const names = new Map<string, string>();
  let lastStart: Date | null = null;

  /** Every reason not to start, known without starting: cheap, so the adapters ask before acknowledging. */
  const check = (args: string, user: ChatUser): Report | null => {
    if (!Args.safeParse(args).success) return usageReport(command, 'takes no arguments', args);
    const refused = users.refuse(user, `start backups of ${deps.target.name}`);
    if (refused) return refused;
    const listed = users.restricted;
    const now = clock();
    const running = deps.backups.running();
    if (running) {
      const by = names.get(running.requestedBy) ?? running.requestedBy;
      return refusalReport(
        'Backup already running',
        new DbwardenError(
          'backup-running',
          `A backup of ${deps.target.name} is already running: started by ${by} at ${formatTime(running.startedAt, deps.config.timezone)} (${formatAge(now.getTime() - running.startedAt.getTime())})`,
          'Its result is posted when it finishes.',
        ),
      );
    }
    const cooldown = deps.config.backup.cooldownMs;
    if (!listed && lastStart && now.getTime() - lastStart.getTime() < cooldown) {
      const wait = cooldown - (now.getTime() - lastStart.getTime());
      return refusalReport(
        'Please wait',
        new DbwardenError(
          'cooldown',
          `A backup was started ${formatAge(now.getTime() - lastStart.getTime())}; the next one can start in ${formatDuration(wait)}`,
          'DBWARDEN_BACKUP_COOLDOWN sets the wait; users in DBWARDEN_BACKUP_USERS have none.',
        ),
      );
    }
    return null;
  };

  const command: ChatCommand = {
    ...backupNowInfo,
    check,
    async run(args, user, reply) {
      // Asked again: between the runner's check and now, another backup may have started.
      const refusal = check(args, user);
      if (refusal) {
        await reply.update(refusal);
        return;
      }
      const who = displayName(user);
      const now = clock();
      const requestedBy = requesterOf(user);
      names.set(requestedBy, who);
      lastStart = now;
      let updates = Promise.resolve();
      const post = (r: Report) => {
        updates = updates.then(() => reply.update(r)).catch(() => {});
      };
      post(
        backupProgressReport(
          deps.target.name,
          { phase: 'starting', bytes: 0, elapsedMs: 0, expectedBytes: null },
          who,
        ),
      );
      try {
        const m = await deps.backups.run({
          requestedBy,
          onProgress: (p) => {
            if (p.phase !== 'done') post(backupProgressReport(deps.target.name, p, who));
          },
        });
        await updates;
        await reply.update(backupDoneReport(m, deps.location, deps.config.timezone));
      } catch (err) {
        await updates;
        await reply.update(backupFailedReport(deps.target.name, asDbwardenError(err), requestedBy));
      }
    },
  };
  return command;
}
