// Runs before `npm start` and `npm test`: installs dependencies on a fresh clone, so one command is enough.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync('package-lock.json').mtimeMs > statSync(marker).mtimeMs + 1000;
if (stale) {
  console.error('dbwarden: installing dependencies (npm ci)…');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      'dbwarden: `npm ci` failed; run it yourself to see why (Node 20+ and network access to the npm registry are needed).',
    );
    process.exit(r.status ?? 1);
  }
}
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`dbwarden needs Node 20 or newer; this is Node ${process.versions.node}.`);
  process.exit(1);
}
