import { z } from 'zod';
import { backupDoneReport, backupFailedReport, backupProgressReport } from '../../backup/backup-report.js';
import type { BackupService } from '../../backup/service.js';
import type { Config } from '../../core/config.js';
import { echo } from '../../core/echo.js';
import { asDbwardenError, DbwardenError, NotAuthorised, UsageError } from '../../core/errors.js';
import { formatAge, formatDuration, formatTime } from '../../core/format.js';
import { errorReport, type Report } from '../../core/report.js';
import type { ChatCommand, ChatUser } from '../commands.js';

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

/**
 * `/backup-now`: take a backup now, with live progress and a confirmation. Only DBWARDEN_BACKUP_USERS (user or
 * role IDs) may when it is set; otherwise anyone, with a cooldown between runs.
 */
export function backupNowCommand(deps: BackupNowDeps): ChatCommand {
  const clock = deps.clock ?? (() => new Date());
  const allowed = deps.config.backup.users;
  const names = new Map<string, string>();
  let lastStart: Date | null = null;
  const refuse = (title: string, err: DbwardenError): Report => ({
    ...errorReport(title, err),
    level: 'warn',
  });

  return {
    name: 'backup-now',
    description: 'Take a backup of the database now (progress, then size, checksum and verification)',
    usage: '',
    async run(args, user, reply) {
      if (!Args.safeParse(args).success) {
        await reply.update(
          refuse(
            'Unknown argument',
            new UsageError(
              `/backup-now takes no arguments, got "${echo(args.trim(), 40)}"`,
              'Usage: /backup-now',
            ),
          ),
        );
        return;
      }
      const who = displayName(user);
      const listed = allowed.length > 0 && isListed(allowed, user);
      if (allowed.length > 0 && !listed) {
        await reply.update(
          refuse(
            'Not allowed',
            new NotAuthorised(
              `${who} may not start backups of ${deps.target.name}`,
              'Ask an admin to add your user ID (or a role of yours) to DBWARDEN_BACKUP_USERS.',
            ),
          ),
        );
        return;
      }
      const now = clock();
      const running = deps.backups.running();
      if (running) {
        const by = names.get(running.requestedBy) ?? running.requestedBy;
        await reply.update(
          refuse(
            'Backup already running',
            new DbwardenError(
              'backup-running',
              `A backup of ${deps.target.name} is already running: started by ${by} at ${formatTime(running.startedAt, deps.config.timezone)} (${formatAge(now.getTime() - running.startedAt.getTime())})`,
              'Its result is posted when it finishes.',
            ),
          ),
        );
        return;
      }
      const cooldown = deps.config.backup.cooldownMs;
      if (!listed && lastStart && now.getTime() - lastStart.getTime() < cooldown) {
        const wait = cooldown - (now.getTime() - lastStart.getTime());
        await reply.update(
          refuse(
            'Please wait',
            new DbwardenError(
              'cooldown',
              `A backup was started ${formatAge(now.getTime() - lastStart.getTime())}; the next one can start in ${formatDuration(wait)}`,
              'DBWARDEN_BACKUP_COOLDOWN sets the wait; users in DBWARDEN_BACKUP_USERS have none.',
            ),
          ),
        );
        return;
      }

      const requestedBy = `${user.platform ?? 'chat'}:${user.id}`;
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
}

function isListed(allowed: string[], user: ChatUser): boolean {
  return allowed.includes(user.id) || (user.roles ?? []).some((r) => allowed.includes(r));
}

function displayName(user: ChatUser): string {
  const id = `${user.platform ? `${user.platform}:` : ''}${user.id}`;
  return user.name && user.name !== user.id ? `${user.name} (${id})` : id;
}
