import type { Report } from '../../core/report.js';
import { type ChatCommand, usageReport } from '../commands.js';

/** `/db-status [me]`: the status report; `me` asks for an answer only the caller sees. */
export function dbStatusCommand(deps: {
  statusReport: () => Promise<Report>;
}): ChatCommand & { ephemeral(args: string): boolean } {
  const command: ChatCommand & { ephemeral(args: string): boolean } = {
    name: 'db-status',
    description: 'Which database, reachable or not, size, tables, rows, migrations, last backup',
    usage: '[me]',
    ephemeral: (args) => args.trim().toLowerCase() === 'me',
    check(args) {
      const a = args.trim().toLowerCase();
      return a === '' || a === 'me' ? null : usageReport(command, 'takes no argument but "me"', args);
    },
    async run(args, user, reply) {
      const refusal = command.check!(args, user);
      await reply.update(refusal ?? (await deps.statusReport()));
    },
  };
  return command;
}
