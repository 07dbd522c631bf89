import type { Config } from '../../core/config.js';
import { NotAuthorised } from '../../core/errors.js';
import type { Report } from '../../core/report.js';
import { type ChatUser, refusalReport } from '../commands.js';

/**
 * DBWARDEN_BACKUP_USERS, one rule for every chat action that costs the database (or changes what dbwarden expects):
 * /backup-now, /backup-verify and the buttons. Judged on the server from the platform's user and role IDs.
 */
export interface BackupUsers {
  /** The list is set: only listed users act, and without a cooldown. */
  readonly restricted: boolean;
  listed(user: ChatUser): boolean;
  /** Null when `user` may; otherwise the private refusal saying how to be allowed. */
  refuse(user: ChatUser, what: string): Report | null;
}

/** The rule built from the config: unset lets anyone act (commands then apply their own cooldown). */
export function backupUsers(config: Pick<Config, 'backup'>): BackupUsers {
  const allowed = config.backup.users;
  const listed = (user: ChatUser) =>
    allowed.includes(user.id) || (user.roles ?? []).some((r) => allowed.includes(r));
  return {
    restricted: allowed.length > 0,
    listed,
    refuse(user, what) {
      if (allowed.length === 0 || listed(user)) return null;
      return refusalReport(
        'Not allowed',
        new NotAuthorised(
          `You may not ${what}`,
          `Ask an admin to add your user ID (${user.id}) or a role of yours to DBWARDEN_BACKUP_USERS.`,
        ),
      );
    },
  };
}

/** Who asked, as manifests, locks and the guard record it: "slack:U123". */
export function requesterOf(user: ChatUser): string {
  return `${user.platform ?? 'chat'}:${user.id}`;
}

/** Who did something, as the channel reads it: "alice (slack:U123)". */
export function displayName(user: ChatUser): string {
  // The recorded requester, without the "chat:" stand-in for a platform the user came without.
  const id = user.platform ? requesterOf(user) : user.id;
  return user.name && user.name !== user.id ? `${user.name} (${id})` : id;
}
