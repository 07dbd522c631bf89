import { renderText } from '../chat/console/render-text.js';
import { digestReport } from '../guard/digest-report.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const digestVerb: Verb = {
  name: 'digest',
  summary: "The daily digest now: last night's backup, growth, open warnings, next backup",
  usage: 'dbwarden digest [--json] [--post]',
  help: [
    '--json   print the digest as JSON',
    '--post   also post it to the chat channels (the console when none is configured)',
    "Exit 0 when last night's backup is confirmed, 3 when it failed or is missing.",
  ],
  options: { json: { type: 'boolean' }, post: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({
      env,
      logDestination: stderr,
      consoleOutput: stderr,
    });
    try {
      const d = await services.digest();
      const report = digestReport(d, services.config.timezone);
      if (values.json) stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      else stdout.write(`${renderText(report, { color: Boolean((stdout as { isTTY?: boolean }).isTTY) })}\n`);
      if (values.post) await services.notifier.post(report);
      return d.backup.state === 'ok' ? EXIT.ok : EXIT.critical;
    } finally {
      await services.close();
    }
  },
};
