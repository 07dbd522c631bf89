import { DbwardenError } from './errors.js';

/** What the operating system said, in words, for the file errors an operator can fix. */
const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
};

/** Why a file could not be read or written, in words: the reasons above, a missing file, else the code or message. */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'ENOENT') return 'no such file';
  return REASONS[code] ?? (code || (err instanceof Error ? err.message : String(err)));
}

/**
 * An operating-system file error (permissions, read-only volume, disk full…) as an error users can act on:
 * what could not be done, where, why, and the fix; `setting` is the variable that chooses the place. Null when
 * `err` is no such error (a bug, an abort), so the caller passes it on unchanged.
 */
export function classifyFsError(
  err: unknown,
  what: string,
  where: string,
  setting?: string,
): DbwardenError | null {
  if (err instanceof DbwardenError) return err;
  const e = err as NodeJS.ErrnoException | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const reason = REASONS[code];
  if (!reason) return null;
  // The exact file or directory refused, when it is not the place itself (backups/ inside the store, say).
  const dest = (e as { dest?: unknown } | null)?.dest;
  const path =
    typeof e?.path !== 'string' || e.path === where
      ? ''
      : typeof dest === 'string'
        ? ` renaming ${e.path} to ${dest}`
        : ` on ${e.path}`;
  const message = `Cannot ${what} ${where}: ${reason}${path} (${code}).`;
  const elsewhere = setting ? `, or set ${setting} to a directory it can write` : '';
  if (code === 'EACCES' || code === 'EPERM') {
    const uid = process.getuid?.();
    const who = uid === undefined ? 'the user dbwarden runs as' : `uid ${uid}, the user dbwarden runs as,`;
    const chown = uid === undefined ? '' : ` (chown -R ${uid}:${process.getgid?.() ?? uid} ${where})`;
    return new DbwardenError(
      'fs-permission-denied',
      message,
      `Let ${who} read and write there: give it the directory${chown}, as volumes are often mounted owned by root${elsewhere}.`,
    );
  }
  if (code === 'EROFS')
    return new DbwardenError(
      'fs-read-only',
      message,
      `The volume is mounted read-only: mount it read-write${elsewhere}.`,
    );
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new DbwardenError(
      'fs-full',
      message,
      'Free space on that volume or make it larger; fewer backups can be kept with DBWARDEN_KEEP_DAILY/WEEKLY/MONTHLY.',
    );
  return new DbwardenError(
    'fs-failed',
    message,
    `Check that ${where} is a directory on a healthy volume${elsewhere}.`,
  );
}
