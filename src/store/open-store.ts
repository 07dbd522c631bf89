import type { Config } from '../core/config.js';
import type { BlobStore } from './blob-store.js';
import { createFileStore } from './file-store.js';
import { createS3Store } from './s3-store.js';

/** The store DBWARDEN_STORE names: an S3 bucket for s3:// URLs, else a directory. */
export function openStore(config: Config): BlobStore {
  if (config.store.startsWith('s3://'))
    return createS3Store({
      url: config.store,
      endpoint: config.s3.endpoint,
      forcePathStyle: config.s3.forcePathStyle,
      region: config.s3.region,
    });
  return createFileStore(config.store);
}
