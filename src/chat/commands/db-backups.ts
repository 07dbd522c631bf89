import { type BackupList, backupListReport } from '../../backup/backup-list-report.js';
import type { Report } from '../../core/report.js';
import { type ChatCommand, type CommandInfo, usageReport } from '../commands.js';

/** How many backups `/db-backups` shows unless asked for more, and the most it shows. */
export const BACKUPS_SHOWN = 10;
export const BACKUPS_MAX = 100;

export interface DbBackupsDeps {
  /** The store's manifests and whose backups count (catalog.scan and services.whoseBackups). */
  backupList: () => Promise<BackupList>;
  target: { name: string };
  timezone: string;
  clock?: () => Date;
}

/** The count asked for, or null when the argument is not one. */
function parseCount(args: string): number | null {
  const a = args.trim();
  if (a === '') return BACKUPS_SHOWN;
  if (!/^\d{1,3}$/.test(a)) return null;
  const n = Number(a);
  return n >= 1 && n <= BACKUPS_MAX ? n : null;
}

/** `/db-backups`'s name, description and usage: what registering it needs. */
export const dbBackupsInfo: CommandInfo = {
  name: 'db-backups',
  description: `The newest backups (default ${BACKUPS_SHOWN}): status, size, age, verified, last drill, who started each`,
  usage: '[count]',
};

/** `/db-backups [count]`: the newest backups with state, size, age, drill and who started each; short ids. */
export function dbBackupsCommand(deps: DbBackupsDeps): ChatCommand {
  const clock = deps.clock ?? (() => new Date());
  const check = (args: string): Report | null =>
    parseCount(args) === null ? usageReport(command, `takes a count from 1 to ${BACKUPS_MAX}`, args) : null;
  const command: ChatCommand = {
    ...dbBackupsInfo,
    check,
    async run(args, _user, reply) {
      const limit = parseCount(args);
      if (limit === null) {
        await reply.update(check(args)!);
        return;
      }
      const list = await deps.backupList();
      await reply.update(
        backupListReport(list, { target: deps.target.name, limit, now: clock(), timezone: deps.timezone }),
      );
    },
  };
  return command;
}
