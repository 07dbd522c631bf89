import type { ParseArgsConfig } from 'node:util';
import type { BuildOptions, Services } from '../main.js';

/** Exit codes shared by every verb. */
export const EXIT = { ok: 0, failure: 1, usage: 1, unreachable: 2, critical: 3 } as const;

export interface VerbContext {
  /** Values of the verb's flags, from parseArgs. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** One `dbwarden <verb>`: its help, its flags and what it does; returns the exit code. */
export interface Verb {
  name: string;
  summary: string;
  usage: string;
  /** Extra help lines (flags explained). */
  help: string[];
  options: NonNullable<ParseArgsConfig['options']>;
  /** How many positionals it takes: [min, max]. */
  positionals?: [number, number];
  run(ctx: VerbContext): Promise<number>;
}

/**
 * The services for a verb that runs: main.ts (and with it pg, zod, pino, node-cron) is imported only here, so
 * `--help` and usage errors load none of it.
 */
export async function openServices(opts: BuildOptions): Promise<Services> {
  const { buildServices } = await import('../main.js');
  return buildServices(opts);
}
