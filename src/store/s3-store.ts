import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertSafeKey, type BlobInfo, type BlobStore } from './blob-store.js';
import { describeS3Error, StoreError } from './s3-errors.js';

/**
 * Multipart part size and parts in flight: an upload holds a few parts in memory (the parts in flight, the one
 * filling, lib-storage's concatenation copy), whatever the dump's size; measured about +60-85 MB RSS while
 * streaming 50-400 MiB. 8 MiB × 10,000 parts (S3's limit) allows objects up to 80 GiB.
 */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 2;

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket: "" or "some/prefix/". */
  prefix: string;
}

/** Parse "s3://bucket/some/prefix" into the bucket and a key prefix ending in "/" (or "" for the bucket root). */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m)
    throw new StoreError(
      'store-config',
      `Not an S3 store URL: ${JSON.stringify(url.slice(0, 100))}.`,
      'Use s3://bucket or s3://bucket/prefix (bucket names are lower-case letters, digits, dots and dashes).',
    );
  const path = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (path) {
    try {
      assertSafeKey(path);
    } catch {
      throw new StoreError(
        'store-config',
        `The prefix in ${JSON.stringify(url.slice(0, 100))} is not allowed.`,
        'Use letters, digits, ".", "_", "-" and "/" in the prefix, without "." or ".." segments.',
      );
    }
  }
  return { bucket: m[1]!, prefix: path ? `${path}/` : '' };
}

export interface S3StoreOptions {
  /** s3://bucket/prefix */
  url: string;
  /** S3-compatible endpoint (R2, MinIO, B2…); null or unset: AWS. */
  endpoint?: string | null;
  forcePathStyle?: boolean;
  /** Default us-east-1 (which R2 also accepts). */
  region?: string | null;
  partSize?: number;
  queueSize?: number;
  /** Keys per ListObjectsV2 page (S3's maximum, 1000, by default). */
  pageSize?: number;
}

/**
 * An S3 bucket (or a prefix in one) as a BlobStore. Credentials come from the AWS SDK's default chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles). Uploads stream as multipart
 * uploads that either complete or are aborted, so no partial object ever appears under a key.
 */
export function createS3Store(opts: S3StoreOptions): BlobStore {
  const { bucket, prefix } = parseS3Url(opts.url);
  const location = `s3://${bucket}${prefix ? `/${prefix.slice(0, -1)}` : ''}`;
  const endpointHost = opts.endpoint ? new URL(opts.endpoint).host : null;
  const config: S3ClientConfig = {
    region: opts.region ?? 'us-east-1',
    forcePathStyle: opts.forcePathStyle ?? Boolean(opts.endpoint),
    // A dead endpoint fails in seconds; a slow part upload may take minutes between bytes. Without
    // throwOnRequestTimeout the SDK only prints a warning and keeps waiting.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 300_000, throwOnRequestTimeout: true },
  };
  if (opts.endpoint) {
    config.endpoint = opts.endpoint;
    // Many S3-compatible providers reject the SDK's newer default checksum headers; send them only when needed.
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  const client = new S3Client(config);
  // Everything but uploads (stat, list, delete, opening a download) on a client that gives up in seconds: an
  // endpoint that accepts connections and never answers must not hold status for the SDK's 300 s and retries.
  const quick = new S3Client({
    ...config,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
  });
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const queueSize = opts.queueSize ?? DEFAULT_QUEUE_SIZE;
  const pageSize = opts.pageSize ?? 1000;

  const objectKey = (key: string) => {
    assertSafeKey(key);
    return prefix + key;
  };
  const fail = (action: string, err: unknown) =>
    describeS3Error(err, { action, location, bucket, endpointHost });

  const stat = async (key: string): Promise<BlobInfo | null> => {
    const Key = objectKey(key);
    try {
      const head = await quick.send(new HeadObjectCommand({ Bucket: bucket, Key }));
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw fail(`stat of ${key}`, err);
    }
  };

  return {
    location,
    async put(key, body, putOpts) {
      const Key = objectKey(key);
      const signal = putOpts?.signal;
      signal?.throwIfAborted();
      const source: Readable =
        typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
      // The source's own error (e.g. pg_dump failed) is the one to report, not what the upload made of it.
      let sourceError: unknown = null;
      const onSourceError = (err: unknown) => {
        sourceError ??= err;
      };
      source.on('error', onSourceError);
      // Stop reading on abort: the upload then fails and lib-storage aborts the multipart upload itself.
      const onAbort = () => source.destroy(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key, Body: source },
        partSize,
        queueSize,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (err) {
        // Stop the producer (e.g. pg_dump's output) rather than leave it blocked on a stream nobody reads.
        if (!source.destroyed) source.destroy();
        throw sourceError ?? fail(`upload of ${key}`, err);
      } finally {
        // The error listener stays: a source that fails after the upload gave up must not crash the process.
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted) {
        // Aborted after the last byte was read: the object completed anyway, so take it back.
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch(() => {});
        throw signal.reason;
      }
      const info = await stat(key);
      if (!info)
        throw new StoreError(
          'store-error',
          `S3 accepted ${key} in ${location} but does not show it.`,
          'Check the bucket for lifecycle rules or replication that remove new objects.',
        );
      return info;
    },
    async get(key) {
      const Key = objectKey(key);
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
        if (!(res.Body instanceof Readable)) throw new Error('S3 returned no body stream');
        return res.Body;
      } catch (err) {
        if (isNotFound(err))
          throw new StoreError(
            'store-not-found',
            `No object ${key} in ${location}.`,
            'List backups to see what exists.',
          );
        throw fail(`download of ${key}`, err);
      }
    },
    stat,
    async list(listPrefix) {
      if (!/^[A-Za-z0-9._/-]*$/.test(listPrefix) || listPrefix.split('/').includes('..'))
        throw new Error(`unsafe store prefix: ${JSON.stringify(listPrefix.slice(0, 80))}`);
      const out: BlobInfo[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await quick.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: prefix + listPrefix,
              MaxKeys: pageSize,
              ...(token ? { ContinuationToken: token } : {}),
            }),
          );
          for (const o of page.Contents ?? []) {
            // Folder markers ("dir/") made by some consoles are not objects of ours.
            if (!o.Key || o.Key.endsWith('/')) continue;
            out.push({
              key: o.Key.slice(prefix.length),
              size: o.Size ?? 0,
              modified: o.LastModified ?? new Date(0),
            });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (err) {
        throw fail(`listing of ${listPrefix || 'the store'}`, err);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(key) {
      const Key = objectKey(key);
      try {
        await quick.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
      } catch (err) {
        if (isNotFound(err)) return;
        throw fail(`delete of ${key}`, err);
      }
    },
    close() {
      quick.destroy();
      client.destroy();
    },
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  // A missing bucket is also a 404, but it must be reported, not read as "no such object".
  if (!e || e.name === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}
