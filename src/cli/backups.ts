import { formatAge, formatBytes } from '../core/format.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const backupsVerb: Verb = {
  name: 'backups',
  summary: 'List backups, newest first: status, size, verified, last restore drill',
  usage: 'dbwarden backups [--json]',
  help: ['--json   print the manifests as a JSON array'],
  options: { json: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({ env, logDestination: stderr });
    try {
      const list = await services.backups.list();
      if (values.json) {
        stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return EXIT.ok;
      }
      if (list.length === 0) {
        stdout.write(`No backups in ${services.store.location} yet: run \`dbwarden backup\`.\n`);
        return EXIT.ok;
      }
      const now = Date.now();
      const rows = list.map((m) => [
        m.id,
        m.status === 'complete' ? (m.verified ? 'verified' : 'UNVERIFIED') : 'FAILED',
        m.status === 'complete' ? formatBytes(m.sizeBytes) : '',
        formatAge(now - Date.parse(m.finishedAt)),
        m.drill ? (m.drill.ok ? `drill ok ${m.drill.at.slice(0, 10)}` : 'drill FAILED') : '',
        m.error ? m.error.message.split('\n')[0]!.slice(0, 60) : m.requestedBy,
      ]);
      const head = ['ID', 'STATUS', 'SIZE', 'AGE', 'DRILL', 'BY / ERROR'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows])
        stdout.write(
          `${r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd()}\n`,
        );
      return EXIT.ok;
    } finally {
      await services.close();
    }
  },
};
