// `npm start` and `npm test` run through this: `node scripts/ensure-install.mjs <command> [args…]` runs the
// command on the Node that package.json's engines names (this one, or one fetched by engines-node.mjs) after
// installing dependencies on a fresh clone, so one command is enough on any machine with Node and npm.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter } from 'node:path';
import { enginesNodeBin } from './engines-node.mjs';
import { ensurePgServers } from './pg-servers.mjs';

let bin;
try {
  bin = enginesNodeBin();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
// The fetched Node first on PATH: `node`, npm and every `#!/usr/bin/env node` tool below run on it.
const env = bin ? { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` } : process.env;

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync('package-lock.json').mtimeMs > statSync(marker).mtimeMs + 1000;
if (stale) {
  console.error('dbwarden: installing dependencies (npm ci)…');
  const r = spawnSync('npm', ['ci', '--include=dev', '--no-audit', '--no-fund'], { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(
      'dbwarden: `npm ci` failed; run it yourself to see why (network access to the npm registry is needed).',
    );
    process.exit(r.status ?? 1);
  }
}

// `--with-pg-servers` (npm test): the PostgreSQL servers of other majors its tests run, each fetched once into
// .cache/pg<major> (scripts/pg-servers.mjs).
const withServers = process.argv[2] === '--with-pg-servers';
if (withServers) ensurePgServers();
const [command, ...args] = process.argv.slice(withServers ? 3 : 2);
if (command) {
  const child = spawn(command, args, { stdio: 'inherit', env });
  // Ctrl-C reaches the whole foreground process group, the command included: only stay alive for its exit.
  // A SIGTERM or SIGHUP sent to this wrapper alone (npm, a process manager) is passed on.
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    console.error(`dbwarden: could not run ${command}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
}
