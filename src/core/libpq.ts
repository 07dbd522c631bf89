import type pg from 'pg';

/** A postgres:// URL taken apart (see parsePostgresUrl). */
export interface ParsedUrl {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | null;
  sslmode: string | null;
}

/** The libpq environment (PGHOST, PGPASSWORD…) of a parsed URL: how pg_dump and friends get secrets, never argv. */
export function libpqEnvOf(p: ParsedUrl): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: p.host,
    PGPORT: String(p.port),
    PGDATABASE: p.database,
    PGUSER: p.user,
  };
  if (p.password !== null) env.PGPASSWORD = p.password;
  if (p.sslmode) env.PGSSLMODE = p.sslmode;
  return env;
}

/** A pg client config from a libpq environment (no URL: the password stays a separate field). */
export function clientConfigOf(env: Record<string, string>): pg.ClientConfig {
  const ssl = env.PGSSLMODE && env.PGSSLMODE !== 'disable' ? { rejectUnauthorized: false } : undefined;
  return {
    host: env.PGHOST,
    port: Number(env.PGPORT),
    database: env.PGDATABASE,
    user: env.PGUSER,
    ...(env.PGPASSWORD !== undefined ? { password: env.PGPASSWORD } : {}),
    ...(ssl ? { ssl } : {}),
    application_name: env.PGAPPNAME ?? 'dbwarden',
  };
}
