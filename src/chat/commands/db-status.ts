import type { Report, ReportField } from '../../core/report.js';
import { type ChatCommand, type CommandInfo, usageReport } from '../commands.js';

/** `/db-status`'s name, description and usage: what registering it needs. */
export const dbStatusInfo: CommandInfo = {
  name: 'db-status',
  description: 'Which database, reachable or not, size, tables, rows, migrations, last backup',
  usage: '[me]',
};

/** `/db-status [me]`: the status report; `me` asks for an answer only the caller sees. */
export function dbStatusCommand(deps: {
  statusReport: () => Promise<Report>;
  /** The line saying a backup runs now (who started it, how far), or null: told at the moment of answering. */
  runningBackup?: () => ReportField | null;
}): ChatCommand & { ephemeral(args: string): boolean } {
  const command: ChatCommand & { ephemeral(args: string): boolean } = {
    ...dbStatusInfo,
    ephemeral: (args) => args.trim().toLowerCase() === 'me',
    check(args) {
      const a = args.trim().toLowerCase();
      return a === '' || a === 'me' ? null : usageReport(command, 'takes no argument but "me"', args);
    },
    async run(args, user, reply) {
      const refusal = command.check!(args, user);
      if (refusal) return reply.update(refusal);
      const report = await deps.statusReport();
      const running = deps.runningBackup?.();
      await reply.update(running ? { ...report, fields: [...report.fields, running] } : report);
    },
  };
  return command;
}
