import { formatAge, formatBytes } from '../core/format.js';
import { EXIT, openServices, type Verb } from './verb.js';

export const backupsVerb: Verb = {
  name: 'backups',
  summary: 'List backups, newest first: status, size, verified, last restore drill, encryption',
  usage: 'dbwarden backups [--json]',
  help: [
    '--json   print the manifests as a JSON array (a manifest that cannot be read: {id, key, status: "unreadable", reason})',
  ],
  options: { json: { type: 'boolean' } },
  async run({ values, stdout, stderr, env }) {
    const services = await openServices({ env, logDestination: stderr });
    try {
      // Unreadable manifests are listed too: a backup that silently vanished from the list is worse.
      const { manifests: list, unreadable } = await services.catalog.scan();
      if (values.json) {
        const all = [...list, ...unreadable].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
        stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        return EXIT.ok;
      }
      if (list.length === 0 && unreadable.length === 0) {
        stdout.write(`No backups in ${services.store.location} yet: run \`dbwarden backup\`.\n`);
        return EXIT.ok;
      }
      const now = Date.now();
      const rows = [
        ...list.map((m) => [
          m.id,
          m.status === 'complete' ? (m.verified ? 'verified' : 'UNVERIFIED') : 'FAILED',
          m.status === 'complete' ? formatBytes(m.sizeBytes) : '',
          formatAge(now - Date.parse(m.finishedAt)),
          m.drill ? (m.drill.ok ? `drill ok ${m.drill.at.slice(0, 10)}` : 'drill FAILED') : '',
          m.encrypted ? 'age' : '',
          m.error ? m.error.message.split('\n')[0]!.slice(0, 60) : m.requestedBy,
        ]),
        ...unreadable.map((u) => [u.id, 'UNREADABLE', '', '', '', '', `manifest ${u.reason}`.slice(0, 80)]),
      ].sort((a, b) => (a[0]! < b[0]! ? 1 : a[0]! > b[0]! ? -1 : 0));
      const head = ['ID', 'STATUS', 'SIZE', 'AGE', 'DRILL', 'ENCRYPTED', 'BY / ERROR'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows])
        stdout.write(
          `${r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd()}\n`,
        );
      if (unreadable.length > 0)
        stdout.write(
          `\n${unreadable.length} manifest${unreadable.length === 1 ? '' : 's'} cannot be read, so ${unreadable.length === 1 ? 'that backup is' : 'those backups are'} never used: run \`dbwarden verify <id>\` for what to do.\n`,
        );
      return EXIT.ok;
    } finally {
      await services.close();
    }
  },
};
