// The Node that package.json's `engines` names: this process's own if it is new enough, else the official
// Node binary the npm registry publishes as `node-<platform>-<arch>@<major>`, fetched once into .cache/node.
// `node scripts/engines-node.mjs` prints that Node's bin directory (for .ci/run's PATH); ensure-install.mjs
// imports it to run `npm start` and `npm test` on it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = join(root, '.cache', 'node');

/** The lowest Node `engines.node` accepts (">=22.12" → [22, 12, 0]). */
export function requiredNode() {
  const range = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node;
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!m) throw new Error(`package.json engines.node "${range}" is not of the form ">=X.Y"`);
  return { range, min: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] };
}

/** Does "v22.12.0" (or "22.12.0") satisfy the minimum? */
export function satisfies(version, min) {
  const v = version.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i];
  return true;
}

/**
 * Install one package from the npm registry into a cache directory of its own (under .cache, gitignored), outside
 * the project's node_modules and lockfile. Returns npm's result; its errors go to stderr.
 */
export function fetchIntoCache(dir, spec, extraArgs = []) {
  return spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      dir,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      ...extraArgs,
      spec,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

const versionOf = (node) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim() || 'unknown';

/**
 * The bin directory of a Node that satisfies `engines`: null when this process's Node already does; otherwise
 * the cached or freshly fetched registry binary. Throws with what to do when none can be had.
 */
export function enginesNodeBin({ log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const { range, min } = requiredNode();
  if (satisfies(process.versions.node, min)) return null;
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const pkg = `node-${platform}-${process.arch}`;
  const bin = join(cacheDir, 'node_modules', pkg, 'bin');
  const node = join(bin, 'node');
  if (!existsSync(node) || !satisfies(versionOf(node), min)) {
    log(
      `dbwarden: this is Node ${process.versions.node}; package.json needs Node ${range}. ` +
        `Fetching ${pkg}@${min[0]} from the npm registry into .cache/node (once; install Node ${min[0]} to skip this)…`,
    );
    const r = fetchIntoCache(cacheDir, `${pkg}@${min[0]}`);
    if (r.status !== 0 || !existsSync(node) || !satisfies(versionOf(node), min))
      throw new Error(
        `dbwarden needs Node ${range} (this is Node ${process.versions.node}) and could not fetch ${pkg}@${min[0]} ` +
          `from the npm registry. Install Node ${min[0]} LTS (https://nodejs.org, or \`nvm install ${min[0]}\`) and run the command again.`,
      );
  }
  log(`dbwarden: running on Node ${versionOf(node)} from .cache/node (package.json needs Node ${range}).`);
  return bin;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${enginesNodeBin() ?? dirname(process.execPath)}\n`);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
