import type { Config } from '../core/config.js';
import type { BlobStore } from './blob-store.js';
import { createFileStore } from './file-store.js';

/** The store DBWARDEN_STORE names: an S3 bucket for s3:// URLs (the AWS SDK loads only then), else a directory. */
export async function openStore(config: Config): Promise<BlobStore> {
  if (config.store.startsWith('s3://')) {
    const { createS3Store } = await import('./s3-store.js');
    return createS3Store({
      url: config.store,
      endpoint: config.s3.endpoint,
      forcePathStyle: config.s3.forcePathStyle,
      region: config.s3.region,
    });
  }
  return createFileStore(config.store);
}
