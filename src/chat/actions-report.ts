import { startedBy } from '../backup/backup-report.js';
import { formatTime } from '../core/format.js';
import type { Level, Report } from '../core/report.js';

// Every message a button press produces: the notes left on the pressed message and the private answers.

/** What a button did, noted on its message so the channel keeps the story. */
export interface ActionNote {
  text: string;
  level: Level;
}

/** "accepted by alice (slack:U1) at 2026-11-24 09:00 UTC". */
export function acceptedNote(by: string, at: Date, timezone: string, closed: string[]): ActionNote {
  return {
    text: `✅ Accepted by ${by} at ${formatTime(at, timezone)}: the database as it is now is what dbwarden expects${closed.length ? ` (closed: ${closed.join(', ')})` : ''}.`,
    level: 'ok',
  };
}

/** A backup started from a button, as it runs and once it ends; `result` is the Report /backup-now would show. */
export function backupNote(by: string, at: Date, timezone: string, result: Report): ActionNote {
  const when = formatTime(at, timezone);
  if (result.progress)
    return { text: `⏳ Backup started by ${by} at ${when}: ${result.progress.label}`, level: 'ok' };
  if (result.level === 'critical')
    return { text: `🚨 ${result.summary} — started by ${by} at ${when}`, level: 'critical' };
  return { text: `✅ ${result.summary} — taken by ${by} at ${when}`, level: result.level };
}

/**
 * The press of a settled warning: nothing to do. Says who accepted it when that acceptance came after it opened,
 * and points at the newer warning of the same kind when one is open now.
 */
export function alreadyResolvedReport(
  pressed: { code: string; sinceMs: number },
  openNow: { since: string } | undefined,
  accepted: { by: string; at: string } | null,
  timezone: string,
): Report {
  const byAccept =
    accepted && Date.parse(accepted.at) >= pressed.sinceMs
      ? `: accepted by ${accepted.by} at ${formatTime(new Date(accepted.at), timezone)}`
      : '';
  const newer = openNow
    ? [
        `A newer ${pressed.code} warning is open since ${formatTime(new Date(openNow.since), timezone)}: use the buttons on its message.`,
      ]
    : [];
  const text = `The ${pressed.code} warning on this message (opened ${formatTime(new Date(pressed.sinceMs), timezone)}) is no longer open${byAccept}.`;
  return {
    title: 'Already resolved',
    level: 'warn',
    summary: `The ${pressed.code} warning is no longer open.`,
    fields: [],
    sections: [{ lead: [text, ...newer], lines: [] }],
  };
}

/** "Retry now" on a failure a later good backup has settled: no second backup, and which one settled it. */
export function failureSettledReport(
  failedId: string,
  good: { id: string; finishedAt: string; requestedBy: string },
  timezone: string,
): Report {
  const text = `Backup ${failedId} failed, but a good backup was taken since: ${good.id} at ${formatTime(new Date(good.finishedAt), timezone)} (started by ${startedBy(good.requestedBy)}).`;
  return {
    title: 'Already resolved',
    level: 'warn',
    summary: `A good backup (${good.id}) was taken since this failure.`,
    fields: [],
    sections: [{ lead: [text], lines: [], tail: ['→ Nothing to retry; /backup-now takes another backup.'] }],
  };
}

/** A second press while the first is still being handled. */
export function inProgressReport(label: string): Report {
  return {
    title: 'Already in progress',
    level: 'warn',
    summary: `“${label}” was pressed already and is being handled.`,
    fields: [],
    sections: [
      {
        lead: [`“${label}” was pressed already and is being handled; its result is noted on the message.`],
        lines: [],
      },
    ],
  };
}

/** A button this dbwarden does not know (an older or newer version posted it). */
export function unknownActionReport(): Report {
  return {
    title: 'Button not understood',
    level: 'warn',
    summary: 'This button belongs to another version of dbwarden.',
    fields: [],
    sections: [
      {
        lead: ['This button belongs to another version of dbwarden; use the slash commands instead.'],
        lines: [],
      },
    ],
  };
}

/** Discord has no confirm dialog: the private prompt before a button that needs one. */
export function confirmPromptReport(confirm: { title: string; text: string }): Report {
  return {
    title: confirm.title,
    level: 'warn',
    summary: confirm.text,
    fields: [],
    sections: [{ lead: [confirm.text], lines: [] }],
  };
}

/** The private answer once a confirmed action is done (the note on the warning says the rest). */
export function doneReport(text: string): Report {
  return { title: 'Done', level: 'ok', summary: text, fields: [], sections: [{ lead: [text], lines: [] }] };
}
