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

/** The press of a settled warning: nothing to do, and who settled it when the store says. */
export function alreadyResolvedReport(
  code: string,
  accepted: { by: string; at: string } | null,
  timezone: string,
): Report {
  return {
    title: 'Already resolved',
    level: 'warn',
    summary: `The ${code} warning is no longer open.`,
    fields: [],
    sections: [
      {
        lead: [
          `The ${code} warning is no longer open${accepted ? `: accepted by ${accepted.by} at ${formatTime(new Date(accepted.at), timezone)}` : ''}.`,
        ],
        lines: [],
      },
    ],
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
