import type { Config } from '../core/config.js';
import type { ChatAdapter, ChatDeps } from './adapter.js';

/** The chat platforms dbwarden knows, in start order; each SDK is imported only when configured. */
const PLATFORMS: {
  name: string;
  configured(c: Config): boolean;
  start(d: ChatDeps): Promise<ChatAdapter>;
}[] = [
  {
    name: 'discord',
    configured: (c) => c.discord !== null,
    start: async (d) => (await import('./discord/discord.js')).startDiscord(d),
  },
  {
    name: 'slack',
    configured: (c) => c.slack !== null,
    start: async (d) => (await import('./slack/slack.js')).startSlack(d),
  },
];

/** Names of the chat platforms the config turns on. */
export function configuredChats(config: Config): string[] {
  return PLATFORMS.filter((p) => p.configured(config)).map((p) => p.name);
}

/**
 * Start every configured chat platform. `started` hears of each as soon as it is up, so a later one that
 * refuses to start (a bad token) still leaves the earlier ones to be stopped.
 */
export async function startChats(deps: ChatDeps, started: (chat: ChatAdapter) => void): Promise<void> {
  for (const p of PLATFORMS) if (p.configured(deps.config)) started(await p.start(deps));
}
