import { backupNowInfo } from './commands/backup-now.js';
import { backupVerifyInfo } from './commands/backup-verify.js';
import { dbBackupsInfo } from './commands/db-backups.js';
import { dbDigestInfo } from './commands/db-digest.js';
import { dbStatusInfo } from './commands/db-status.js';
import type { CommandInfo } from './commands.js';

/**
 * Every chat command's name, description and usage, in the order the bot serves them (main.ts builds them in this
 * order; a test holds it to that): registering the commands with Discord needs neither a database nor the services.
 */
export const COMMAND_INFOS: readonly CommandInfo[] = [
  dbStatusInfo,
  dbDigestInfo,
  backupNowInfo,
  backupVerifyInfo,
  dbBackupsInfo,
];
