/** Types of scripts/pg-servers.mjs, for the test helper that finds the servers of other PostgreSQL majors it fetches. */
export const PG_SERVER_VERSIONS: Record<number, string>;
export function pgServerPackage(major: number): string;
export function pgServerNative(major: number): string;
export function ensurePgServer(major: number, opts?: { log?: (line: string) => void }): string | null;
export function ensurePgServers(opts?: { log?: (line: string) => void }): void;
