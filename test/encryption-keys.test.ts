import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseIdentities, parseRecipients, shortRecipient } from '../src/core/age-keys.js';
import { assertEncryptionReady, loadConfig, SECRET_VARS } from '../src/core/config.js';
import { ConfigError } from '../src/core/errors.js';
import { createRedactor } from '../src/core/secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'dbwarden-age-keys-'));
let id1 = '';
let id2 = '';
let r1 = '';
let r2 = '';

beforeAll(async () => {
  id1 = await generateX25519Identity();
  id2 = await generateX25519Identity();
  r1 = await identityToRecipient(id1);
  r2 = await identityToRecipient(id2);
});

describe('age keys in the configuration', () => {
  it('recipients: one, a comma or newline list, or a recipients file with comments; duplicates dropped', () => {
    expect(parseRecipients(r1)).toEqual([r1]);
    expect(parseRecipients(` ${r1} , ${r2} `)).toEqual([r1, r2]);
    expect(parseRecipients(`${r1}\n${r2}\n${r1}\n`)).toEqual([r1, r2]);
    const file = join(dir, 'recipients.txt');
    writeFileSync(file, `# the team\n${r1}\n\n# the safe\n${r2}\n`);
    expect(parseRecipients(file)).toEqual([r1, r2]);
  });

  it('identities: the key itself, or the file age-keygen (or dbwarden keygen) writes', () => {
    expect(parseIdentities(id1)).toEqual([id1]);
    const file = join(dir, 'key.txt');
    writeFileSync(file, `# created: 2026-01-01T00:00:00Z\n# public key: ${r1}\n${id1}\n`);
    expect(parseIdentities(file)).toEqual([id1]);
  });

  it('bad values are refused saying why, never quoting the value', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
    };
    const wrongKind = problems({ DBWARDEN_AGE_RECIPIENTS: id1 });
    expect(wrongKind).toMatch(
      /^DBWARDEN_AGE_RECIPIENTS: holds something that is not an age public key|^DBWARDEN_AGE_RECIPIENTS: is neither/,
    );
    expect(wrongKind).not.toContain(id1);
    const pubAsKey = problems({ DBWARDEN_AGE_IDENTITY: r1 });
    expect(pubAsKey).toMatch(
      /^DBWARDEN_AGE_IDENTITY: is neither an age private key \(AGE-SECRET-KEY-1…\) nor a readable file/,
    );
    expect(pubAsKey).not.toContain(r1);
    const half = problems({ DBWARDEN_AGE_RECIPIENTS: `${r1},${r2.slice(0, 20)}` });
    expect(half).toMatch(/DBWARDEN_AGE_RECIPIENTS: holds something that is not an age public key/);
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '# nothing here\n');
    expect(problems({ DBWARDEN_AGE_IDENTITY: empty })).toMatch(/names a file with no key in it/);
    expect(problems({ DBWARDEN_AGE_IDENTITY: join(dir, 'missing.txt') })).toMatch(/no such file/);
  });

  it('the identity is a secret: listed as one, and any age private key is redacted from text', () => {
    expect(SECRET_VARS).toContain('DBWARDEN_AGE_IDENTITY');
    expect(SECRET_VARS).not.toContain('DBWARDEN_AGE_RECIPIENTS');
    const redact = createRedactor([]);
    expect(redact(`failed with ${id1} inside`)).toBe('failed with *** inside');
    expect(redact(`public ${r1}`)).toBe(`public ${r1}`);
  });

  it('require-encryption: a configuration error naming both variables, only when no recipient is set', () => {
    const required = loadConfig({ DBWARDEN_REQUIRE_ENCRYPTION: '1' });
    expect(() => assertEncryptionReady(required)).toThrow(ConfigError);
    expect(() => assertEncryptionReady(required)).toThrow(
      /DBWARDEN_AGE_RECIPIENTS: needed when DBWARDEN_REQUIRE_ENCRYPTION is set/,
    );
    expect(() =>
      assertEncryptionReady(loadConfig({ DBWARDEN_REQUIRE_ENCRYPTION: '1', DBWARDEN_AGE_RECIPIENTS: r1 })),
    ).not.toThrow();
    expect(() => assertEncryptionReady(loadConfig({}))).not.toThrow();
  });

  it('recipients are shown shortened, enough to match age-keygen -y', () => {
    expect(shortRecipient(r1)).toBe(`${r1.slice(0, 12)}…${r1.slice(-6)}`);
  });
});
