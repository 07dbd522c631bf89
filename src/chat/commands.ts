import type { Report } from '../core/report.js';

/** Who asked, as the platform tells us. */
export interface ChatUser {
  id: string;
  name?: string;
  /** Discord role IDs; empty elsewhere. */
  roles?: string[];
  /** "slack", "discord", "console": recorded as who asked ("slack:U123"). */
  platform?: string;
}

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
  /** Answer only the person who asked (e.g. `/db-status me`); default: the channel sees it. */
  ephemeral?(args: string): boolean;
}

/** Find a command by name, tolerant of a leading slash. */
export function findCommand(commands: readonly ChatCommand[], name: string): ChatCommand | undefined {
  const n = name.replace(/^\//, '').toLowerCase();
  return commands.find((c) => c.name === n);
}
