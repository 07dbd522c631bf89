import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../src/demo/cluster.js';
import { startFakeSlack } from '../test/helpers/fake-slack.js';
const dir = mkdtempSync(join(tmpdir(), 'rss-')); chmodSync(dir, 0o755);
const cluster = await startCluster({ dir: join(dir, 'pg'), fast: true });
const fake = await startFakeSlack();
const extra = (process.env.NODE_EXTRA ?? '').split(' ').filter(Boolean);
const cases: Record<string, Record<string,string>> = {
  none: {},
  slack: { SLACK_BOT_TOKEN: fake.botToken, SLACK_APP_TOKEN: fake.appToken, SLACK_API_URL: fake.apiUrl, SLACK_CHANNEL: 'C0TEAM' },
};
for (const [name, envx] of Object.entries(cases).filter(([n]) => !process.env.CASES || process.env.CASES.split(',').includes(n))) {
  const env = { PATH: process.env.PATH!, HOME: process.env.HOME!, DATABASE_URL: cluster.url('postgres'), DBWARDEN_STORE: join(dir, 'store-'+name), LOG_LEVEL: 'warn', PORT: String(40000+Math.floor(Math.random()*9000)), ...envx, ...(process.env.MALLOC_ARENA ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA } : {}) };
  const child = spawn(process.execPath, [...extra, ...(process.env.SNAP ? ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir=/tmp/ps/snap'] : []), 'dist/cli.js', 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = ''; child.stdout.on('data', d => log += d); child.stderr.on('data', d => log += d);
  const samples: number[] = [];
  for (let i = 0; i < Number(process.env.SAMPLES ?? 15); i++) {
    await new Promise(r => setTimeout(r, 1000));
    const st = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    samples.push(Number(/VmRSS:\s+(\d+)/.exec(st)![1]) / 1024);
  }
  console.log(name, samples.map(s => s.toFixed(0)).join(' '), 'HWM', /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
  if (process.env.SHOWLOG) console.log(log.slice(0, 3000));
  if (process.env.SMAPS) {
    const sm = readFileSync(`/proc/${child.pid}/smaps`, 'utf8').split('\n');
    const by = new Map<string, number>(); let cur = '';
    for (const l of sm) { const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(l); if (m) { cur = m[1] || '[anon]'; continue; } const r = /^Rss:\s+(\d+)/.exec(l); if (r) by.set(cur, (by.get(cur) ?? 0) + Number(r[1])); }
    console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${(v / 1024).toFixed(1)} ${k}`).join('\n'));
    console.log('threads', require('node:fs').readdirSync(`/proc/${child.pid}/task`).length);
  }
  if (process.env.SNAP) { child.kill('SIGUSR2'); await new Promise(r => setTimeout(r, 8000)); }
  child.kill('SIGTERM');
  await new Promise(r => child.on('exit', r));
}
await fake.close();
cluster.destroy();
