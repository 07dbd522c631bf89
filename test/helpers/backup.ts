import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createBackupService } from '../../src/backup/backup-service.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/log.js';
import { createTarget, type Target } from '../../src/core/target.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createFileStore } from '../../src/store/file-store.js';

/** A fresh store directory for one test. */
export function tempStore(): { dir: string; store: BlobStore } {
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-store-'));
  return { dir, store: createFileStore(dir) };
}

/** Log lines written by the service, for asserting that secrets never appear. */
export function captureLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk, _enc, cb) {
      text += chunk;
      cb();
    },
  });
  return {
    logger: createLogger({ level: 'debug', redact: (s) => s, destination }),
    text: () => text,
  };
}

export function testTarget(url: string): Target {
  return createTarget(url, { environment: 'test', connectTimeoutMs: 5000, statementTimeoutMs: 10_000 });
}

/** A backup service on a real target and store, configured like production from an environment. */
export function backupServiceFor(
  url: string,
  store: BlobStore,
  env: Record<string, string> = {},
  extra: Partial<Pick<Parameters<typeof createBackupService>[0], 'onDumpSpawn' | 'clock' | 'metrics'>> = {},
) {
  const target = testTarget(url);
  const config = loadConfig({ DATABASE_URL: url, ...env });
  const log = captureLogger();
  const service = createBackupService({ target, store, config, logger: log.logger, ...extra });
  return { target, config, service, log };
}
