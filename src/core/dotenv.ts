import { existsSync } from 'node:fs';

/** Read `.env` into the environment if present; real environment variables win. */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}
