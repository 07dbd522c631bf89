import { asDbwardenError } from '../../core/errors.js';
import { errorReport, type Report } from '../../core/report.js';
import { type ChatCommand, type CommandInfo, usageReport } from '../commands.js';

/** `/db-digest`'s name, description and usage: what registering it needs. */
export const dbDigestInfo: CommandInfo = {
  name: 'db-digest',
  description: 'The daily digest now: last backup, growth, open warnings, next backup',
  usage: '',
};

/**
 * `/db-digest`: the daily digest on demand (last backup, growth, open warnings). Named with the `db-` prefix like the
 * others: a bare `/digest` collides with other apps in a Slack workspace (the old name is removed).
 */
export function digestCommand(deps: { digestReport: () => Promise<Report> }): ChatCommand {
  const command: ChatCommand = {
    ...dbDigestInfo,
    check: (args) => (args.trim() === '' ? null : usageReport(command, 'takes no arguments', args)),
    async run(args, user, reply) {
      const refusal = command.check!(args, user);
      if (refusal) {
        await reply.update(refusal);
        return;
      }
      try {
        await reply.update(await deps.digestReport());
      } catch (err) {
        await reply.update(errorReport('Digest failed', asDbwardenError(err)));
      }
    },
  };
  return command;
}
