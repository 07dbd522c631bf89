import { renderText } from '../chat/console/render-text.js';
import { digestReport } from '../guard/digest-report.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const digestVerb: Verb = {
  name: 'digest',
  summary: "The daily digest now: last night's backup, growth, open warnings, next backup",
  usage: 'dbwarden digest [--json] [--post]',
  help: [
    '--json   print the digest as JSON',
    '--post   also post it to the chat channels (without a chat, printing it is the post)',
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
      // Without a chat the console is the channel, and the digest is already printed above: once is enough.
      if (values.post && services.notifier.name !== 'console') {
        await services.notifier.post(report);
        if (!values.json) stdout.write(`\nPosted to ${services.notifier.name}.\n`);
      }
      return d.backup.state === 'ok' ? EXIT.ok : EXIT.critical;
    } finally {
      await services.close();
    }
  },
};
