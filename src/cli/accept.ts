import { renderText } from '../chat/console/render-text.js';
import { formatBytes, formatCount } from '../core/format.js';
import { identityLabel } from '../core/identity.js';
import type { Report } from '../core/report.js';
import { acceptCurrent } from '../guard/watch.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const acceptVerb: Verb = {
  name: 'accept',
  summary:
    'Accept the database as it is now (a planned move or deletion): silences database-replaced and data-loss warnings',
  usage: 'dbwarden accept [--json]',
  help: [
    '--json   print the accepted identity as JSON',
    'Records the current identity, tables and rows as what is expected, and tells the channel who did it.',
  ],
  options: { json: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({
      env,
      logDestination: stderr,
      consoleOutput: stderr,
    });
    try {
      const by = `cli:${env.USER ?? env.LOGNAME ?? 'unknown'}`;
      const r = await acceptCurrent(
        { store: services.store, probe: services.status, clock: services.clock },
        by,
      );
      const s = r.snapshot;
      const rows = s.watched.reduce((n, t) => n + (s.tables[t]?.rows ?? 0), 0);
      const report: Report = {
        title: `Accepted: ${services.target.name} as it is now`,
        level: 'ok',
        summary: `${by} accepted ${services.target.display} (identity ${identityLabel(s.identity)}) as the expected database.`,
        fields: [
          { label: 'Database', value: services.target.display },
          { label: 'Identity', value: identityLabel(s.identity) },
          ...(r.previousIdentity ? [{ label: 'Was', value: identityLabel(r.previousIdentity) }] : []),
          { label: 'Tables', value: String(Object.keys(s.tables).length) },
          { label: 'Watched rows', value: formatCount(rows) },
          { label: 'Size', value: formatBytes(s.sizeBytes) },
          { label: 'By', value: by },
        ],
        sections:
          r.cleared.length > 0 ? [{ title: 'Closed', lines: r.cleared.map((c) => `${c} (accepted)`) }] : [],
      };
      await services.notifier
        .post(report)
        .catch((err) => services.logger.error({ err: String(err) }, 'could not post the acceptance'));
      if (values.json)
        stdout.write(`${JSON.stringify({ identity: s.identity, cleared: r.cleared, by }, null, 2)}\n`);
      else stdout.write(`${renderText(report)}\n`);
      return EXIT.ok;
    } finally {
      await services.close();
    }
  },
};
