/** Types of scripts/pg13.mjs, for the test helper that finds the PostgreSQL 13 server it fetches. */
export const PG13_PACKAGE: string;
export const pg13Native: string;
export function ensurePg13(opts?: { log?: (line: string) => void }): string | null;
