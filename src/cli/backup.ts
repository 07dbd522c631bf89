import { backupDoneReport } from '../backup/backup-report.js';
import { renderText } from '../chat/console/render-text.js';
import { BackupFailed } from '../core/errors.js';
import type { BackupManifest } from '../store/manifest.js';
import { progressLine } from './progress-line.js';
import { EXIT, openServices, type Verb } from './verb.js';

/** Where a backup's dump is, as a user would look for it. */
export function backupLocation(storeLocation: string, m: BackupManifest): string {
  return `${storeLocation.replace(/\/+$/, '')}/${m.dumpKey}`;
}

export const backupVerb: Verb = {
  name: 'backup',
  summary: 'Take a verified backup now (pg_dump -Fc into the store)',
  usage: 'dbwarden backup [--json]',
  help: [
    '--json   print {id, startedAt, finishedAt, sizeBytes, sha256, verified, location} (encrypted: also encrypted,',
    '         recipients, storedSizeBytes, storedSha256: the stored object; sizeBytes, sha256: the archive), or',
    '         {error} on failure',
    'Exit 0 when the backup is complete and verified, 1 when it failed (nothing partial is left behind).',
    'Ctrl-C (SIGINT) or SIGTERM stops the dump cleanly: no manifest, the temporary dump removed, exit 1.',
  ],
  options: { json: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({ env, logDestination: stderr, writesBackups: true });
    const line = progressLine(stderr, services.target.name);
    // Ctrl-C or a process manager's stop: end pg_dump, remove the temporary dump, write no manifest, exit 1.
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (abort.signal.aborted) return;
      line.clear();
      stderr.write(`dbwarden backup: ${signal} received: stopping the dump; nothing is kept\n`);
      abort.abort(
        new BackupFailed(`The backup was cancelled (${signal}): no backup was taken`, undefined, 'cancelled'),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const m = await services.backups
        .run({ requestedBy: 'cli', onProgress: (p) => line.update(p), signal: abort.signal })
        .finally(() => line.clear());
      const location = backupLocation(services.store.location, m);
      if (values.json) {
        const { id, startedAt, finishedAt, sizeBytes, sha256, verified } = m;
        const sealed = m.encrypted
          ? {
              encrypted: m.encrypted,
              recipients: m.recipients,
              storedSizeBytes: m.storedSizeBytes,
              storedSha256: m.storedSha256,
            }
          : {};
        stdout.write(
          `${JSON.stringify({ id, startedAt, finishedAt, sizeBytes, sha256, verified, location, ...sealed }, null, 2)}\n`,
        );
      } else {
        const color = Boolean((stdout as { isTTY?: boolean }).isTTY);
        stdout.write(
          `${renderText(backupDoneReport(m, services.store.location, services.config.timezone), { color })}\n`,
        );
      }
      return EXIT.ok;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await services.close();
    }
  },
};
