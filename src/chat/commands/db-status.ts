import { echo } from '../../core/echo.js';
import { UsageError } from '../../core/errors.js';
import type { Report } from '../../core/report.js';
import { errorReport } from '../../core/report.js';
import type { ChatCommand } from '../commands.js';

/** `/db-status [me]`: the status report; `me` asks for an answer only the caller sees. */
export function dbStatusCommand(deps: {
  statusReport: () => Promise<Report>;
}): ChatCommand & { ephemeral(args: string): boolean } {
  return {
    name: 'db-status',
    description: 'Which database, reachable or not, size, tables, rows, migrations, last backup',
    usage: '[me]',
    ephemeral: (args) => args.trim().toLowerCase() === 'me',
    async run(args, _user, reply) {
      const a = args.trim().toLowerCase();
      if (a !== '' && a !== 'me') {
        await reply.update(
          errorReport(
            'Unknown argument',
            new UsageError(
              `/db-status takes no argument but "me", got "${echo(args.trim(), 40)}"`,
              'Usage: /db-status [me]',
            ),
          ),
        );
        return;
      }
      await reply.update(await deps.statusReport());
    },
  };
}
