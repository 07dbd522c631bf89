import { renderText } from '../chat/console/render-text.js';
import { warningsReport } from '../guard/warning-report.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const watchVerb: Verb = {
  name: 'watch',
  summary:
    'Check for data loss (database replaced, emptied, rows or tables gone, backups stale) and post new warnings',
  usage: 'dbwarden watch [--once] [--json]',
  help: [
    '--once   one round, then exit: 0 when no critical warning, 3 when there is one',
    '--json   print {reachable, warnings, posted} as JSON (with --once)',
    'Without --once it checks on DBWARDEN_WATCH_CRON until stopped. New warnings go to the chat channels',
    '(the console when none is configured), once; "resolved" is posted when they clear.',
  ],
  options: { once: { type: 'boolean' }, json: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({
      env,
      logDestination: stderr,
      // Without a chat the posts are printed: on stdout, where the rest of the round's report goes (see below).
      consoleOutput: values.once && !values.json ? stdout : stderr,
    });
    try {
      if (!values.once) {
        const { runWatchLoop } = await import('../serve/schedule.js');
        await runWatchLoop(services);
        return EXIT.ok;
      }
      const r = await services.watch();
      if (values.json) {
        stdout.write(
          `${JSON.stringify({ reachable: r.reachable, warnings: r.warnings, posted: r.posted }, null, 2)}\n`,
        );
      } else {
        // Without a chat a posted warning is already on stdout: print each warning once, the unposted ones here.
        const printed =
          services.notifier.name === 'console' ? new Set(r.posted.map((p) => p.code)) : new Set();
        const rest = r.warnings.filter((w) => !printed.has(w.code));
        if (rest.length > 0 || r.posted.length === 0) {
          const report = warningsReport(rest, {
            target: services.target,
            timezone: services.config.timezone,
            now: services.clock(),
          });
          stdout.write(`${renderText(report, { color: Boolean((stdout as { isTTY?: boolean }).isTTY) })}\n`);
        }
        if (r.posted.length > 0 && services.notifier.name !== 'console')
          stdout.write(
            `\nPosted to ${services.notifier.name}: ${r.posted.map((p) => `${p.code} (${p.kind})`).join(', ')}\n`,
          );
      }
      return r.warnings.some((w) => w.level === 'critical') ? EXIT.critical : EXIT.ok;
    } finally {
      await services.close();
    }
  },
};
