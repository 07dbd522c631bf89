import { echo } from '../core/echo.js';
import { DbwardenError } from '../core/errors.js';
import { formatCount, formatDuration } from '../core/format.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const verifyVerb: Verb = {
  name: 'verify',
  summary: 'Check a backup: checksum, pg_restore --list, and with --drill a restore into a scratch database',
  usage: 'dbwarden verify <id|latest|prefix> [--drill] [--json]',
  help: [
    '<id>     a whole id, `latest` (the newest good backup of this database), or a unique prefix of the id or of its last characters',
    '--drill  also restore it into DBWARDEN_DRILL_URL (or a temporary database) and compare row counts',
    'An encrypted backup is verified by its stored checksum without any key; listing and --drill need DBWARDEN_AGE_IDENTITY.',
    '--json   print {id, ok, verified, verifiedAt, drill, error?}',
    'The result is recorded in the backup’s manifest. Exit 0 when every check passed, 1 otherwise.',
  ],
  options: { json: { type: 'boolean' }, drill: { type: 'boolean' } },
  positionals: [1, 1],
  async run({ values, positionals, stdout, stderr, env }) {
    const services = await openServices({ env, logDestination: stderr });
    try {
      const catalog = services.catalog;
      const id = await catalog.resolve(positionals[0]!, services.whoseBackups);
      const m = await catalog.read(id);
      if (!m)
        throw new DbwardenError(
          'backup-not-found',
          `No backup ${echo(id)} in ${services.store.location}`,
          'List backups with `dbwarden backups`.',
        );
      const { manifest, problem } = await services.verify(m, {
        drill: Boolean(values.drill),
        requestedBy: 'cli',
      });
      // The problem is returned, not thrown, so cli/run.ts's redaction never sees it: masked here (an age identity).
      const { redact } = services;
      if (values.json) {
        const { verified, verifiedAt, drill } = manifest;
        stdout.write(
          redact(
            `${JSON.stringify({ id, ok: problem === null, verified, verifiedAt, drill, ...(problem ? { error: problem.toJSON() } : {}) }, null, 2)}\n`,
          ),
        );
      } else {
        // Without the key an encrypted backup's stored object is checked, not listed (its archive was at backup time).
        const what =
          manifest.encrypted && !services.config.encryption.identities
            ? 'checksum of the encrypted object (no key needed)'
            : 'checksum and archive';
        // A problem that is no verdict on the backup (no key, a wrong key, the store not answering) leaves its record
        // as it was: this run checked nothing, and must not print the old record as a fresh ✓.
        const checked = manifest.verifiedAt !== m.verifiedAt;
        stdout.write(
          checked
            ? `${manifest.verified ? '✓' : '✗'} ${id}: ${what} ${manifest.verified ? 'ok' : 'FAILED'}\n`
            : `! ${id}: ${what} not checked (see below; its record is unchanged)\n`,
        );
        if (manifest.drill && values.drill)
          stdout.write(
            redact(
              `${manifest.drill.ok ? '✓' : '✗'} restore drill: ${manifest.drill.tables} tables, ${formatCount(manifest.drill.rows)} rows in ${formatDuration(manifest.drill.durationMs)}${manifest.drill.problem ? ` — ${manifest.drill.problem}` : ''}\n`,
            ),
          );
        if (problem)
          stderr.write(redact(`${problem.message}${problem.hint ? `\n  → ${problem.hint}` : ''}\n`));
      }
      return problem ? EXIT.failure : EXIT.ok;
    } finally {
      await services.close();
    }
  },
};
