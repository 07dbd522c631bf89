import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/run.js';

/** What one in-process CLI run printed, its exit code and how long it took. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
  ms: number;
}

/**
 * Run `dbwarden <args>` in-process with exactly this environment, capturing stdout and stderr. A fresh store
 * unless the env names one: the default (./.dbwarden) is the developer's demo store, never a test's.
 */
export async function runCliCaptured(args: string[], env: Record<string, string>): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const started = Date.now();
  const code = await runCli(args, {
    stdout,
    stderr,
    env: { DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-cli-store-')), ...env },
  });
  return { code, out, err, ms: Date.now() - started };
}
