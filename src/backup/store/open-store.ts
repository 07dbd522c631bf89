import type { Config } from '../../config.js';
import { ConfigError } from '../../core/errors.js';
import type { BlobStore } from './blob-store.js';
import { createFileStore } from './file-store.js';

/** The store DBWARDEN_STORE names: a directory, or (once available) an S3 bucket. */
export function openStore(config: Pick<Config, 'store' | 's3'>): BlobStore {
  if (config.store.startsWith('s3://'))
    throw new ConfigError([
      'DBWARDEN_STORE: S3 stores are not available in this build yet; use a directory path for now',
    ]);
  return createFileStore(config.store);
}
