import { asDbwardenError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { errorReport, type Report } from '../core/report.js';
import type { ChatCommand, ChatUser, CommandReply } from './commands.js';
import { throttledReply } from './throttle.js';

/**
 * How an adapter opens a command's answer once the runner knows who may see it: public in the channel, or
 * ephemeral (only the asker). Discord decides this when it acknowledges, so it is asked once, before anything shows.
 */
export type OpenReply = (mode: { ephemeral: boolean }) => CommandReply | Promise<CommandReply>;

/** What every platform does around a command: the same gate, timing, error report and throttled edits. */
export interface CommandRunner {
  /**
   * Run one command for `user`, editing one message through the reply `open` gives at most every `editIntervalMs`.
   * A refusal (the command's `check`, or dbwarden restarting) is answered only to the asker and runs nothing.
   * Never throws: a failing command becomes a readable error Report, an undeliverable answer a log line.
   */
  run(
    command: ChatCommand,
    args: string,
    user: ChatUser & { platform: string },
    open: OpenReply,
    opts: { logger: Logger; editIntervalMs: number; clock?: () => number },
  ): Promise<void>;
}

export interface CommandRunnerDeps {
  /** Once true (shutdown began), commands answer that dbwarden is restarting instead of starting work. */
  stopping?: () => boolean;
  /** Told how long each command took, by platform (serve's /metrics). */
  onAnswered?: (platform: string, command: string, seconds: number) => void;
}

/** The restarting answer: nothing new starts while a running backup drains. */
export const restartingReport: Report = {
  title: 'dbwarden is restarting',
  level: 'warn',
  summary: 'dbwarden is shutting down and takes no new commands; try again in a minute.',
  fields: [],
  sections: [],
};

/** The one way Slack, Discord and the console run a chat command. */
export function createCommandRunner(deps: CommandRunnerDeps = {}): CommandRunner {
  return {
    async run(command, args, user, open, opts) {
      const started = performance.now();
      let refusal: Report | null;
      try {
        refusal = deps.stopping?.() ? restartingReport : (command.check?.(args, user) ?? null);
      } catch (err) {
        const e = asDbwardenError(err);
        opts.logger.warn({ err: e.toJSON() }, 'command check failed');
        refusal = errorReport(`/${command.name} failed`, e);
      }
      let reply: CommandReply;
      try {
        reply = await open({ ephemeral: refusal !== null || (command.ephemeral?.(args) ?? false) });
      } catch (err) {
        opts.logger.error({ err: asDbwardenError(err).toJSON() }, 'command not acknowledged');
        return;
      }
      const throttled = throttledReply(reply, opts.editIntervalMs, opts.clock);
      try {
        if (refusal) {
          opts.logger.info({ refusal: refusal.title }, 'command refused');
          await throttled.update(refusal);
        } else await command.run(args, user, throttled);
      } catch (err) {
        const e = asDbwardenError(err);
        opts.logger.warn({ err: e.toJSON() }, 'command failed');
        await throttled.update(errorReport(`/${command.name} failed`, e)).catch(() => {});
      }
      try {
        await throttled.flush();
        const seconds = (performance.now() - started) / 1000;
        deps.onAnswered?.(user.platform, command.name, seconds);
        opts.logger.info({ ms: Math.round(seconds * 1000) }, 'command answered');
      } catch (err) {
        // The platform's own retries already logged its error; the user cannot be told anything more.
        opts.logger.error({ err: asDbwardenError(err).toJSON() }, 'answer not delivered');
      }
    },
  };
}
