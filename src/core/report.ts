/** The platform-neutral message: every answer is a Report first, then Block Kit, an embed or terminal text. */

export type Level = 'ok' | 'warn' | 'critical';

export interface ReportField {
  label: string;
  value: string;
}

/**
 * One block of a Report: `lead`, then the list `lines`, then `tail`. Renderers shorten only the list to fit a
 * platform's limits ("… and N more"); the lead (what happened) and the tail (what to do, the way back) stay whole.
 */
export interface ReportSection {
  title?: string;
  /** Shown first and kept whole: what happened. */
  lead?: string[];
  /** Short lines, shown as a list; renderers truncate with "and N more". */
  lines: string[];
  /** Shown last and kept whole, never dropped to make room for the list: the hint, the way back. */
  tail?: string[];
  /** Shown as small print (Slack context block, Discord italic). */
  muted?: boolean;
}

/**
 * A button under a Report (Slack Block Kit button, Discord message component). Pressing it only names the action
 * and its value: who may act, and whether it still applies, is decided on the server when it arrives.
 */
export interface ReportAction {
  /** Which action (chat/actions.ts knows each): "way-back", "backup-now", "accept", "retry-backup", "show-cause". */
  id: string;
  label: string;
  style?: 'primary' | 'danger';
  /** A small opaque reference (a warning code, a backup id): never a secret, at most 60 characters. */
  value: string;
  /** Asked before it runs (Slack's confirm dialog; on Discord a private prompt). */
  confirm?: { title: string; text: string; ok: string; deny: string };
}

export interface Report {
  title: string;
  level: Level;
  /** One line that stands alone: notification text and plain-text fallback. */
  summary: string;
  fields: ReportField[];
  sections: ReportSection[];
  /** Live progress of a running job; fraction null when unknown. */
  progress?: { fraction: number | null; label: string };
  footer?: string;
  /** Buttons, in order; renderers without buttons (the terminal) leave them out. */
  actions?: ReportAction[];
}

export const LEVEL_EMOJI: Record<Level, string> = { ok: '✅', warn: '⚠️', critical: '🚨' };

/** The worse of two levels. */
export function worst(a: Level, b: Level): Level {
  const rank: Record<Level, number> = { ok: 0, warn: 1, critical: 2 };
  return rank[a] >= rank[b] ? a : b;
}

/** A text progress bar: "▓▓▓▓▓░░░░░ 50%". */
export function progressBar(fraction: number | null, width = 20): string {
  if (fraction === null) return '░'.repeat(width);
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(f * width);
  return `${'▓'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.floor(f * 100)}%`;
}

/** A report for an error value: what happened and what to do. */
export function errorReport(title: string, err: { message: string; hint?: string }, footer?: string): Report {
  return {
    title,
    level: 'critical',
    summary: `${title}: ${err.message}`,
    fields: [],
    sections: [{ lead: [err.message], lines: [], ...(err.hint ? { tail: [`→ ${err.hint}`] } : {}) }],
    ...(footer ? { footer } : {}),
  };
}
