import { readFileSync } from 'node:fs';

/**
 * age keys as dbwarden's configuration names them: recipients (public, `age1…`) and identities (private,
 * `AGE-SECRET-KEY-1…`), given inline or as a path to a file in age's own formats (`age -R`, `age -i`). Only the
 * shape is checked here, without the age library (which costs ~200 ms to load): the library checks each key's
 * checksum when a backup starts and when serve starts.
 */

// bech32's alphabet: lower case for recipients, upper case for identities.
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const HYBRID_RECIPIENT = /^age1pq1[02-9ac-hj-np-z]{100,}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;
const HYBRID_IDENTITY = /^AGE-SECRET-KEY-PQ-1[02-9AC-HJ-NP-Z]{20,}$/;

/** Lines of a key list or key file: split on commas and newlines, `#` comments and blanks dropped. */
function keyLines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The value itself when it holds keys, else the contents of the file it names; messages never quote the value. */
function keysOrFile(value: string, looksLikeKey: (s: string) => boolean, what: string): string[] {
  const inline = keyLines(value);
  if (inline.length > 0 && inline.every(looksLikeKey)) return inline;
  if (/[\n,]/.test(value) || inline.some(looksLikeKey))
    throw new Error(`holds something that is not ${what}`);
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `is neither ${what} nor a readable file (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')})`,
    );
  }
  const keys = keyLines(text);
  if (keys.length === 0) throw new Error(`names a file with no key in it (expected ${what})`);
  if (!keys.every(looksLikeKey)) throw new Error(`names a file with a line that is not ${what}`);
  return keys;
}

/** Is this an age recipient dbwarden encrypts to (X25519 `age1…`, or post-quantum hybrid `age1pq1…`)? */
export function isAgeRecipient(s: string): boolean {
  return X25519_RECIPIENT.test(s) || HYBRID_RECIPIENT.test(s);
}

/** Is this an age identity (X25519 `AGE-SECRET-KEY-1…`, or hybrid `AGE-SECRET-KEY-PQ-1…`)? */
export function isAgeIdentity(s: string): boolean {
  return X25519_IDENTITY.test(s) || HYBRID_IDENTITY.test(s);
}

/** DBWARDEN_AGE_RECIPIENTS: `age1…` keys (comma or newline separated) or a recipients file; throws saying why. */
export function parseRecipients(value: string): string[] {
  const keys = keysOrFile(value, isAgeRecipient, 'an age public key (age1…)');
  return [...new Set(keys)];
}

/** DBWARDEN_AGE_IDENTITY: `AGE-SECRET-KEY-1…` keys or an identity file (as age-keygen writes); throws saying why. */
export function parseIdentities(value: string): string[] {
  return keysOrFile(value, isAgeIdentity, 'an age private key (AGE-SECRET-KEY-1…)');
}

/**
 * A recipient as messages show it: its first and last characters, enough to tell keys apart and to match
 * `age-keygen -y key.txt`. Manifests keep the whole recipient (a public key, not a secret).
 */
export function shortRecipient(r: string): string {
  return r.length <= 24 ? r : `${r.slice(0, 12)}…${r.slice(-6)}`;
}
