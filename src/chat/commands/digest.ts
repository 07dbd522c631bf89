import { asDbwardenError } from '../../core/errors.js';
import { errorReport, type Report } from '../../core/report.js';
import type { ChatCommand } from '../commands.js';

/** `/digest`: the daily digest on demand (last backup, growth, open warnings). */
export function digestCommand(deps: { digestReport: () => Promise<Report> }): ChatCommand {
  return {
    name: 'digest',
    description: 'The daily digest now: last backup, growth, open warnings, next backup',
    usage: '',
    async run(_args, _user, reply) {
      try {
        await reply.update(await deps.digestReport());
      } catch (err) {
        await reply.update(errorReport('Digest failed', asDbwardenError(err)));
      }
    },
  };
}
