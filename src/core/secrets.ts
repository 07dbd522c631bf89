/** Redaction of secrets from any text that may be shown or logged. */

export type Redactor = (text: string) => string;

const URL_PASSWORD = /\b(postgres(?:ql)?:\/\/[^:/@\s]+):[^@\s]+@/gi;
// Slack tokens, and age private keys (DBWARDEN_AGE_IDENTITY may name a file, so its value is not the key itself).
const TOKENS =
  /\b(xox[abposr]-[0-9A-Za-z-]{6,}|xapp-\d-[0-9A-Za-z-]{6,}|AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{10,})/g;

/** A redactor that hides the given secret values, URL passwords, Slack-looking tokens and age private keys. */
export function createRedactor(secrets: Iterable<string | null | undefined> = []): Redactor {
  const values = new Set<string>();
  for (const s of secrets) {
    if (!s || s.length < 4) continue;
    values.add(s);
    values.add(encodeURIComponent(s));
  }
  const sorted = [...values].sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text.replace(URL_PASSWORD, '$1:***@').replace(TOKENS, '***');
    for (const s of sorted) out = out.split(s).join('***');
    return out;
  };
}
