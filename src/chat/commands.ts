import { echo } from '../core/echo.js';
import { UsageError } from '../core/errors.js';
import { errorReport, type Report } from '../core/report.js';

/** Who asked, as the platform tells us. */
export interface ChatUser {
  id: string;
  name?: string;
  /** Discord role IDs; empty elsewhere. */
  roles?: string[];
  /** "slack", "discord", "console": recorded as who asked ("slack:U123"). */
  platform?: string;
}

/** What a command is called and says about itself: all that registering it with a platform needs. */
export type CommandInfo = Pick<ChatCommand, 'name' | 'description' | 'usage'>;

/** Where a command's answer goes: each call replaces the previous message (progress, then the result). */
export interface CommandReply {
  update(report: Report): Promise<void>;
}

/** A platform-neutral chat command; adapters parse, acknowledge, and hand it a reply. */
export interface ChatCommand {
  /** Without the slash, e.g. "db-status". */
  name: string;
  description: string;
  /** e.g. "[me]" */
  usage: string;
  run(args: string, user: ChatUser, reply: CommandReply): Promise<void>;
  /**
   * A refusal known before any work starts, cheap and synchronous: bad arguments, not allowed, a cooldown, a job
   * already running. The runner asks first; a Report here goes only to the asker and `run` is not called.
   */
  check?(args: string, user: ChatUser): Report | null;
  /** Answer only the person who asked (e.g. `/db-status me`); default: the channel sees it. */
  ephemeral?(args: string): boolean;
}

/** A refusal: a warning with what to do (never the critical siren), shown only to the asker. */
export function refusalReport(title: string, err: { message: string; hint?: string }): Report {
  return { ...errorReport(title, err), level: 'warn' };
}

/** The answer to arguments a command does not take: "/x takes …, got "…"" and its usage. */
export function usageReport(
  command: Pick<ChatCommand, 'name' | 'usage'>,
  takes: string,
  args: string,
): Report {
  const usage = `/${command.name}${command.usage ? ` ${command.usage}` : ''}`;
  return refusalReport(
    'Unknown argument',
    new UsageError(`/${command.name} ${takes}, got "${echo(args.trim(), 40)}"`, `Usage: ${usage}`),
  );
}

/** Find a command by name, tolerant of a leading slash. */
export function findCommand(commands: readonly ChatCommand[], name: string): ChatCommand | undefined {
  const n = name.replace(/^\//, '').toLowerCase();
  return commands.find((c) => c.name === n);
}
