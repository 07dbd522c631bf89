/** Types of scripts/aliases.mjs, for vitest.config.ts. */
export const ALIASES: { within: string; specifier: string; file: string }[];
export function swapFor(specifier: string, importer: string | undefined): string | null;
