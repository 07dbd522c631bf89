import type { Config } from '../core/config.js';
import type { HttpServer } from '../core/http.js';
import type { Logger } from '../core/log.js';
import type { Redactor } from '../core/secrets.js';
import type { ActionHandler } from './actions.js';
import type { ChatCommand } from './commands.js';
import type { CommandRunner } from './run-command.js';
import type { SlackRetryPolicy } from './slack/slack-api.js';

/** A running chat platform: Slack, Discord (and the console chat) look the same to serve. */
export interface ChatAdapter {
  readonly name: string;
  /** Commands can arrive (the socket, gateway or route is up). Channel posts do not depend on it. */
  connected(): boolean;
  /** Disconnect and let commands in flight finish. */
  stop(): Promise<void>;
}

/** Timings a test shortens; production uses the platforms' own limits. */
export interface ChatTuning {
  /** At most one edit of a command's message per this many ms (Slack ~1/s, Discord ~5 per 5 s). */
  editIntervalMs?: number;
  slackRetry?: Partial<SlackRetryPolicy>;
  discordPostRetryDelaysMs?: number[];
  /** First wait before logging in to Discord again when it cannot be reached. */
  discordLoginRetryMs?: number;
  /** Milliseconds since the epoch, for Discord's interaction-token life. */
  clock?: () => number;
}

/** What every adapter is started with. */
export interface ChatDeps {
  config: Config;
  /** Shown on every message: the configured environment, or "demo". */
  environment: string;
  commands: readonly ChatCommand[];
  runner: CommandRunner;
  /** Handles presses of the buttons under posted Reports; without it, presses are answered as not understood. */
  actions?: ActionHandler;
  logger: Logger;
  redact: Redactor;
  /** The shared HTTP server (Slack's HTTP mode routes into it); null when PORT is unset. */
  http: HttpServer | null;
  tuning?: ChatTuning;
}
