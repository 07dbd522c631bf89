import { UsageError } from '../core/errors.js';
import { formatCount, formatDuration } from '../core/format.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const restoreVerb: Verb = {
  name: 'restore',
  summary: 'Restore a backup into a database (never the guarded one unless told so)',
  usage:
    'dbwarden restore <id|latest|prefix> --to <postgres-url> [--clean] [--i-know-this-is-production] [--json]',
  help: [
    '<id>     a whole id, `latest` (the newest good backup of this database), or a unique prefix of the id or of its last characters',
    '--to <url>                     the database to restore into (create it first)',
    '--clean                        the database is not empty: drop and recreate the backup’s objects',
    '--i-know-this-is-production    allow restoring into the database dbwarden guards',
    '--json                         print {id, to, dropped, tables, durationMs}',
    'The checksum is verified first; row counts are printed after.',
    'An encrypted backup needs DBWARDEN_AGE_IDENTITY (its private key, or a path to it); it is decrypted as it streams.',
  ],
  options: {
    to: { type: 'string' },
    clean: { type: 'boolean' },
    'i-know-this-is-production': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  positionals: [1, 1],
  async run({ values, positionals, stdout, stderr, env }) {
    const [{ restoreBackup }, { parsePostgresUrl }] = await Promise.all([
      import('../backup/restore.js'),
      import('../core/target.js'),
    ]);
    const to = values.to;
    if (typeof to !== 'string' || !/^postgres(ql)?:\/\//.test(to))
      throw new UsageError('restore needs --to <postgres://…> naming the database to restore into');
    try {
      parsePostgresUrl(to);
    } catch (err) {
      throw new UsageError(`--to ${(err as Error).message}`);
    }
    const services = await openServices({ env, logDestination: stderr });
    try {
      const catalog = services.catalog;
      const say = (line: string) => (values.json ? stderr : stdout).write(`${line}\n`);
      const r = await restoreBackup({
        store: services.store,
        catalog,
        id: await catalog.resolve(positionals[0]!, services.whoseBackups),
        toUrl: to,
        clean: Boolean(values.clean),
        iKnowThisIsProduction: Boolean(values['i-know-this-is-production']),
        production: { url: services.config.databaseUrl, target: services.target },
        pgRestore: services.config.backup.pgRestore,
        identities: services.config.encryption.identities,
        say,
      });
      if (values.json) {
        stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      } else {
        const width = Math.max(...r.tables.map((t) => t.name.length));
        say(`Restored ${r.id} into ${r.to} in ${formatDuration(r.durationMs)}. Rows now (at backup time):`);
        for (const t of r.tables)
          say(
            `  ${t.name.padEnd(width)}  ${formatCount(t.rows).padStart(12)}  (${formatCount(t.atBackup)})${t.rows === t.atBackup ? '' : '  ← differs'}`,
          );
      }
      return r.tables.every((t) => t.rows === t.atBackup) ? EXIT.ok : EXIT.failure;
    } finally {
      await services.close();
    }
  },
};
