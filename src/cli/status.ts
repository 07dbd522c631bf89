import { renderText } from '../chat/console/render-text.js';
import { statusReport } from '../core/status-report.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const statusVerb: Verb = {
  name: 'status',
  summary:
    'Show which database this is, whether it is reachable, its size, tables, rows, migrations and last backup',
  usage: 'dbwarden status [--json]',
  help: [
    '--json   print one JSON object instead of text',
    'Exit 0 when the database is reachable, 2 when not, 1 on bad usage or config.',
  ],
  options: { json: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({ env, logDestination: stderr });
    try {
      const s = await services.status();
      services.logger.debug({ reachable: s.reachable, error: s.error, timings: s.timings }, 'status probed');
      if (values.json) {
        const { timings: _timings, ...rest } = s;
        stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
      } else {
        stdout.write(
          `${renderText(statusReport(s, services.config.timezone), { color: Boolean((stdout as { isTTY?: boolean }).isTTY) })}\n`,
        );
      }
      return s.reachable ? EXIT.ok : EXIT.unreachable;
    } finally {
      await services.close();
    }
  },
};
