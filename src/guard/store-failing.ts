import { asDbwardenError } from '../core/errors.js';
import type { Warning } from '../core/warning.js';

/** One store call a watch round could not make, and why. */
export interface StoreProblem {
  /** What dbwarden was doing, e.g. "save the snapshot". */
  action: string;
  err: unknown;
}

/** The cause of a store error in one line a person can act on (ENOSPC, credentials rejected, no answer…). */
export function storeCause(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = asDbwardenError(err).message.split('\n')[0]!.slice(0, 300);
  // Raw OS errors, and the file store's classified ones (core/fs-errors.ts).
  if (code === 'ENOSPC' || code === 'fs-full') return `the disk is full (${message})`;
  if (['EACCES', 'EPERM', 'EROFS', 'fs-permission-denied', 'fs-read-only'].includes(String(code)))
    return `it may not be written (${message})`;
  return message;
}

/**
 * store-failing: the store could not be read or written this round. The guard still judged and posted; what it
 * could not do is remember (snapshots, open warnings) and, for backups, keep anything. Pure.
 */
export function storeFailingWarning(problems: StoreProblem[], location: string): Warning | null {
  const first = problems[0];
  if (!first) return null;
  const actions = [...new Set(problems.map((p) => p.action))];
  return {
    code: 'store-failing',
    level: 'critical',
    title: 'Store failing',
    message:
      `dbwarden could not ${actions.slice(0, 3).join(', ')} in its store ${location}: ${storeCause(first.err)}. ` +
      'It keeps watching and posting, but keeps no snapshots, and remembers open warnings only until it restarts; ' +
      'backups into this store fail.',
    details: problems.slice(0, 5).map((p) => `${p.action}: ${storeCause(p.err)}`),
    hint: 'Free space or fix access to the store (disk, bucket, credentials, endpoint); "resolved" follows when dbwarden can write again.',
    wayBack: null,
  };
}
