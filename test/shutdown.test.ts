import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestCluster } from './helpers/cluster.js';
import { eventually, freePort } from './helpers/net.js';

const db = useTestCluster();
const dir = mkdtempSync(join(tmpdir(), 'dbwarden-shutdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Served {
  child: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  log: () => string;
}

/** The real entry point, as a process manager starts it: no terminal, PORT set. */
async function serve(extraEnv: Record<string, string> = {}): Promise<Served> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: db.url,
      PORT: String(port),
      DBWARDEN_STORE: dir,
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await eventually(
    'serve to answer /healthz',
    async () => {
      if (child.exitCode !== null) throw new Error(`serve exited early:\n${log}`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      return res?.status === 200 ? true : undefined;
    },
    60_000,
  );
  return { child, port, exited, log: () => log };
}

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops on ${signal}: closes the HTTP server and exits 0`, async () => {
      const s = await serve();
      try {
        expect((await fetch(`http://127.0.0.1:${s.port}/readyz`)).status).toBe(200);
        s.child.kill(signal);
        expect(await s.exited).toEqual({ code: 0, signal: null });
        expect(s.log()).toContain('"msg":"shutdown requested"');
        expect(s.log()).toContain('"msg":"dbwarden stopped"');
        expect(s.log()).not.toContain(db.password);
        await expect(fetch(`http://127.0.0.1:${s.port}/healthz`)).rejects.toThrow();
      } finally {
        if (s.child.exitCode === null) s.child.kill('SIGKILL');
      }
    });
  }
});
