import { writeFile } from 'node:fs/promises';
import { echo } from '../core/echo.js';
import { UsageError } from '../core/errors.js';
import { EXIT, type Verb } from './verb.js';

/** Where each half of a key pair belongs: the reason keygen exists rather than only printing keys. */
function custody(recipient: string, keyFile: string | null): string[] {
  return [
    `Public key (recipient): ${recipient}`,
    `  → on the server: DBWARDEN_AGE_RECIPIENTS=${recipient}`,
    `    every new backup is encrypted to it; it is not a secret.`,
    `Private key (identity, AGE-SECRET-KEY-1…)${keyFile ? ` in ${keyFile}` : ' above'}:`,
    '  → keep it OFF the server that takes backups: in a password manager or a sealed secret store, with a second copy',
    '    somewhere else you trust (a printed copy in a safe will do).',
    '  → set DBWARDEN_AGE_IDENTITY (the key, or a path to a 0600 file holding it) only where restores and drills run.',
    '  Lose it and every backup encrypted to this key is unreadable, by dbwarden and by anyone: nobody can recover it.',
  ];
}

export const keygenVerb: Verb = {
  name: 'keygen',
  summary: 'Make an age key pair for encrypted backups (like age-keygen) and say where each half belongs',
  usage: 'dbwarden keygen [-o <file>]',
  help: [
    '-o, --output <file>   write the private key to a new file (mode 0600) instead of stdout',
    'Prints "# created", "# public key" and the AGE-SECRET-KEY-1… line as age-keygen does; `age -d -i` reads it.',
    'Where each half belongs is written to stderr, so stdout can be redirected into a key file.',
  ],
  options: { output: { type: 'string', short: 'o' } },
  async run({ values, stdout, stderr }) {
    // X25519 keys, readable by every age (Debian's age 1.1 has no post-quantum keys).
    const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const created = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const text = `# created: ${created}\n# public key: ${recipient}\n${identity}\n`;
    const file = typeof values.output === 'string' ? values.output : null;
    // "wx": never overwrite a key file, which may hold the only copy of an older key.
    if (file)
      await writeFile(file, text, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST'
          ? new UsageError(`${echo(file)} already exists: keygen never overwrites a key file`)
          : new UsageError(`cannot write ${echo(file)}: ${err.code ?? err.message}`);
      });
    else stdout.write(text);
    stderr.write(`${file ? '' : '\n'}${custody(recipient, file).join('\n')}\n`);
    return EXIT.ok;
  },
};
