import { failureCauseReport } from '../backup/backup-report.js';
import type { BackupService } from '../backup/service.js';
import type { Config } from '../core/config.js';
import { asDbwardenError, NotAuthorised } from '../core/errors.js';
import type { DbIdentity } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import { errorReport, type Report, type ReportAction } from '../core/report.js';
import { DATA_LOSS, type WarningCode } from '../core/warning.js';
import { restoreCommand } from '../guard/guard.js';
import { isOccurrence, parseWarningRef, WARNING_ACTIONS, wayBackReport } from '../guard/warning-report.js';
import { type Catalog, isBackupId } from '../store/catalog.js';
import { isGood } from '../store/manifest.js';
import {
  type ActionNote,
  acceptedNote,
  alreadyResolvedReport,
  backupNote,
  confirmPromptReport,
  doneReport,
  failureSettledReport,
  inProgressReport,
  unknownActionReport,
} from './actions-report.js';
import { backupUsers, displayName, requesterOf } from './commands/backup-users.js';
import { type ChatCommand, type ChatUser, refusalReport } from './commands.js';
import { throttledReply } from './throttle.js';

/** One press of one of our buttons, as the platform delivered it. */
export interface ActionPress {
  /** The action ("accept") and the value the button carried ("rows-dropped"). */
  id: string;
  value: string;
  user: ChatUser & { platform: string };
  /** The platform's id of this press: a replayed delivery carries the same one, and is done once. */
  pressId: string;
  /** The message the button is on: one press of one action on one message is handled at a time. */
  messageKey: string;
  /** The person already confirmed (Slack's dialog, or Discord's private prompt). */
  confirmed: boolean;
}

/** How the adapter answers a press; the adapter has acknowledged it (within 3 s) before calling `handle`. */
export interface ActionAnswer {
  /** Only the person who pressed sees this. */
  private(report: Report): Promise<void>;
  /** What the press did, noted on the pressed message (replacing an earlier note); `close` removes its buttons. */
  note(note: ActionNote, close: boolean): Promise<void>;
  /** Platforms without a confirm dialog ask privately, with a button that presses `action` confirmed. */
  confirm?(prompt: Report, action: ReportAction): Promise<void>;
}

export interface ActionDeps {
  config: Pick<Config, 'backup' | 'timezone'>;
  target: { name: string; display: string };
  /** The /backup-now command: its check (who, single-flight, cooldown) and its run are the buttons' too. */
  backupNow: ChatCommand;
  backups: Pick<BackupService, 'running'>;
  catalog: Pick<Catalog, 'read' | 'newestGood'>;
  whoseBackups: () => Promise<DbIdentity | null>;
  /** `dbwarden accept`: the database as it is now is what is expected; resolves with the codes it closed. */
  accept: (by: string) => Promise<{ cleared: WarningCode[] }>;
  /** The guard's open warnings and its last acceptance, as the store has them now. */
  watchState: () => Promise<{
    open: Partial<Record<WarningCode, { since: string }>>;
    accepted: { by: string; at: string } | null;
  }>;
  clock: () => Date;
  logger: Logger;
  /** How often a running backup's note is edited (ms). */
  editIntervalMs?: number;
}

/** Handles every button press, on every platform: authorised on the server, single-flight, done once. */
export interface ActionHandler {
  handle(press: ActionPress, answer: ActionAnswer): Promise<void>;
}

/** Presses remembered this long, so a replay of the same delivery does nothing. */
const REMEMBER_MS = 30 * 60_000;

/** The one action dispatcher (like run-command.ts for commands). Never throws: a failure is answered privately. */
export function createActionHandler(deps: ActionDeps): ActionHandler {
  const users = backupUsers(deps.config);
  const seen = new Map<string, number>();
  const inFlight = new Set<string>();
  const tz = deps.config.timezone;
  const labels = new Map<string, string>([
    ...Object.values(WARNING_ACTIONS).map((a): [string, string] => [a.id, a.label]),
    ['retry-backup', 'Retry now'],
    ['show-cause', 'Show the cause'],
  ]);

  /**
   * A backup from a button: /backup-now's own check and run, its reports turned into notes on the message. `settled`
   * says (after the check: who may act comes first) that what the message reported needs no backup any more.
   */
  async function backup(
    press: ActionPress,
    answer: ActionAnswer,
    closeWhenDone: boolean,
    settled: () => Promise<Report | null>,
  ): Promise<void> {
    const refusal = deps.backupNow.check?.('', press.user) ?? (await settled());
    if (refusal) return answer.private(refusal);
    const by = displayName(press.user);
    const at = deps.clock();
    const reply = throttledReply(
      {
        update: (r: Report) =>
          answer.note(backupNote(by, at, tz, r), closeWhenDone && !r.progress && r.level !== 'critical'),
      },
      deps.editIntervalMs ?? 1000,
    );
    await deps.backupNow.run('', press.user, reply);
    await reply.flush();
  }

  async function accept(press: ActionPress, answer: ActionAnswer): Promise<void> {
    const what = `accept changes to ${deps.target.name}`;
    // Accepting silences the guard: only the people DBWARDEN_BACKUP_USERS names, never "anyone".
    if (!users.restricted)
      return answer.private(
        refusalReport(
          'Not allowed',
          new NotAuthorised(
            `Nobody may ${what} from chat while DBWARDEN_BACKUP_USERS is unset`,
            'Set DBWARDEN_BACKUP_USERS to the user or role IDs who may, or run `dbwarden accept`.',
          ),
        ),
      );
    const refusal = users.refuse(press.user, what) ?? (await warningSettled(press));
    if (refusal) return answer.private(refusal);
    const action = WARNING_ACTIONS.accept;
    if (!press.confirmed && answer.confirm)
      return answer.confirm(confirmPromptReport(action.confirm), { ...action, value: press.value });
    const by = displayName(press.user);
    const r = await deps.accept(requesterOf(press.user));
    await answer.note(acceptedNote(by, deps.clock(), tz, r.cleared), true);
    if (press.confirmed && answer.confirm)
      await answer.private(doneReport(`Accepted ${deps.target.name} as it is now.`));
  }

  async function wayBack(press: ActionPress, answer: ActionAnswer): Promise<void> {
    const m = await deps.catalog.read(press.value).catch(() => null);
    if (!m || !isGood(m))
      return answer.private(
        errorReport('Backup gone', {
          message: `Backup ${press.value} is no longer a good backup in the store.`,
          hint: 'List the backups with /db-backups and restore another (dbwarden restore <id> --to <url>).',
        }),
      );
    const way = {
      backupId: m.id,
      takenAt: m.startedAt,
      sizeBytes: m.sizeBytes,
      command: restoreCommand(m.id, deps.target.display),
    };
    await answer.private(wayBackReport(way, deps.target, tz));
  }

  /**
   * Is the warning this button is under (its value: warningRef) settled? Accepted, cleared, or replaced by a newer
   * warning of the same kind (another occurrence): then the press is refused, so an old message never accepts or
   * backs up for a warning it did not report. A null answer: it is still the open one.
   */
  async function warningSettled(press: ActionPress): Promise<Report | null> {
    const ref = parseWarningRef(press.value);
    if (!ref || !DATA_LOSS.has(ref.code)) return unknownActionReport();
    const state = await deps.watchState();
    const open = state.open[ref.code];
    return isOccurrence(open, ref) ? null : alreadyResolvedReport(ref, open, state.accepted, tz);
  }

  /**
   * Is the failure this Retry now is under (its value: the failed run's id) settled? A good backup of this database
   * taken after it (ids sort by start time) is: another retry from a stale copy of the message, /backup-now or the
   * schedule got there first. A newer failure is not: the retry still runs.
   */
  async function failureSettled(failedId: string): Promise<Report | null> {
    // An older dbwarden's buttons named the target, not the run.
    if (!isBackupId(failedId)) return unknownActionReport();
    const good = await deps.catalog.newestGood(await deps.whoseBackups());
    return good && good.id > failedId ? failureSettledReport(failedId, good, tz) : null;
  }

  /** The cause of the failed run the message reported (its id is the value), not of whichever failed last. */
  async function cause(press: ActionPress, answer: ActionAnswer): Promise<void> {
    if (!isBackupId(press.value)) return answer.private(unknownActionReport());
    const m = await deps.catalog.read(press.value);
    await answer.private(
      failureCauseReport(deps.target.name, press.value, m?.status === 'failed' ? m : null, tz),
    );
  }

  return {
    async handle(press, answer) {
      const now = Date.now();
      for (const [id, at] of seen) if (now - at > REMEMBER_MS) seen.delete(id);
      const log = deps.logger.child({ action: press.id, user: press.user.id, press: press.pressId });
      if (seen.has(press.pressId)) {
        log.info('button press replayed: already handled');
        return;
      }
      seen.set(press.pressId, now);
      const key = `${press.messageKey}|${press.id}`;
      const slow = press.id === 'backup-now' || press.id === 'retry-backup' || press.id === 'accept';
      if (slow && inFlight.has(key)) {
        await answer.private(inProgressReport(labels.get(press.id) ?? press.id)).catch(() => {});
        return;
      }
      if (slow) inFlight.add(key);
      try {
        log.info('button pressed');
        switch (press.id) {
          case 'way-back':
            return await wayBack(press, answer);
          case 'show-cause':
            return await cause(press, answer);
          case 'backup-now':
            return await backup(press, answer, false, () => warningSettled(press));
          case 'retry-backup':
            return await backup(press, answer, true, () => failureSettled(press.value));
          case 'accept':
            return await accept(press, answer);
          default:
            return await answer.private(unknownActionReport());
        }
      } catch (err) {
        const e = asDbwardenError(err);
        log.warn({ err: e.toJSON() }, 'button press failed');
        await answer
          .private(errorReport(`${labels.get(press.id) ?? 'The button'} failed`, e))
          .catch(() => {});
      } finally {
        if (slow) inFlight.delete(key);
      }
    },
  };
}
