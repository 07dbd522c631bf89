import { Readable } from 'node:stream';
import type { ReadableStream as WebReadable } from 'node:stream/web';
import { shortRecipient } from '../core/age-keys.js';
import { ConfigError, DbwardenError } from '../core/errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BackupManifest } from '../store/manifest.js';
import { loadAge, pulled } from './age-seal.js';

/** The recipients of a backup as messages name them. */
export function recipientsLabel(m: BackupManifest): string {
  const r = m.recipients ?? [];
  return r.length > 0 ? r.map(shortRecipient).join(', ') : 'recipients not recorded';
}

/** An encrypted backup and no DBWARDEN_AGE_IDENTITY: what a drill reports as skipped, and restore refuses with. */
export function noIdentity(m: BackupManifest, forDrill = false): DbwardenError {
  return new DbwardenError(
    forDrill ? 'drill-no-identity' : 'age-identity-missing',
    forDrill
      ? `Restore drill of ${m.id} skipped: no age identity (the backup is encrypted to ${recipientsLabel(m)})`
      : `Backup ${m.id} is encrypted with age (to ${recipientsLabel(m)}): set DBWARDEN_AGE_IDENTITY to decrypt it`,
    'Set DBWARDEN_AGE_IDENTITY to the private key (AGE-SECRET-KEY-1…, or a path to its file) of one of those recipients, only where restores and drills run; the checksum is verified without it.',
  );
}

/**
 * A Decrypter holding every identity, or how many of them the age library refused: a typo breaks a key's checksum,
 * and the library's error quotes the key, so only the count ever leaves here.
 */
async function decrypterFor(identities: string[]) {
  const { Decrypter } = await loadAge();
  const d = new Decrypter();
  let refused = 0;
  for (const i of identities) {
    try {
      d.addIdentity(i);
    } catch {
      refused++;
    }
  }
  return { d, refused };
}

const refusedText = (refused: number, total: number) =>
  `${refused} of ${total} key(s) is not a valid age private key (a typo breaks its checksum)`;

/**
 * Check every DBWARDEN_AGE_IDENTITY key with the age library (serve, whose scheduled drills use it): a typo is a
 * start-up error naming the variable, never a drill that "could not run" every night.
 */
export async function checkIdentities(identities: string[]): Promise<void> {
  const { refused } = await decrypterFor(identities);
  if (refused > 0)
    throw new ConfigError([`DBWARDEN_AGE_IDENTITY: ${refusedText(refused, identities.length)}`]);
}

/**
 * The archive of a backup as pg_restore reads it: the stored object itself, or for an encrypted backup the stored
 * object decrypted as it streams (nothing written to disk). The age header is checked before this resolves, so a
 * missing or wrong identity fails here, naming the backup's recipients; a damaged payload fails mid-stream.
 */
export async function openArchive(
  store: BlobStore,
  m: BackupManifest,
  identities: string[] | null,
  opts: { forDrill?: boolean } = {},
): Promise<Readable> {
  if (!m.encrypted) return store.get(m.dumpKey);
  if (!identities || identities.length === 0) throw noIdentity(m, opts.forDrill);
  const { d, refused } = await decrypterFor(identities);
  // A setup problem, like a wrong key: it says nothing about the backup.
  if (refused > 0)
    throw new DbwardenError(
      'age-wrong-identity',
      `DBWARDEN_AGE_IDENTITY cannot decrypt backup ${m.id} of ${m.target.name}: ${refusedText(refused, identities.length)}`,
      'Copy the whole AGE-SECRET-KEY-1… line again from where the key is kept (`age-keygen -y key.txt` prints the public key of a valid one).',
    );
  const stored = await store.get(m.dumpKey);
  try {
    const plain = await d.decrypt(pulled(stored));
    return Readable.fromWeb(plain as unknown as WebReadable<Uint8Array>);
  } catch (err) {
    stored.destroy();
    throw await undecryptable(m, identities, err);
  }
}

/** Why the age header did not open: a key that is not one of the backup's recipients, or a damaged object. */
async function undecryptable(m: BackupManifest, identities: string[], err: unknown): Promise<DbwardenError> {
  const why = err instanceof Error ? err.message : String(err);
  if (/no identity matched/i.test(why)) {
    const { identityToRecipient } = await loadAge();
    const mine = await Promise.all(identities.map((i) => identityToRecipient(i).catch(() => '?')));
    return new DbwardenError(
      'age-wrong-identity',
      `DBWARDEN_AGE_IDENTITY cannot decrypt backup ${m.id} of ${m.target.name}: it is the key of ${mine.map(shortRecipient).join(', ')}, the backup is encrypted to ${recipientsLabel(m)}`,
      'Use the private key of one of the backup’s recipients (`age-keygen -y key.txt` prints a private key’s public key, to compare).',
    );
  }
  return new DbwardenError(
    'archive-unreadable',
    `Backup ${m.id} cannot be decrypted: ${why}`,
    'Its age header is damaged: run `dbwarden verify` on it, and restore an older backup.',
  );
}
