import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, vi } from 'vitest';

/** One S3 API call the server received, named as in the S3 API reference. */
export interface S3Call {
  op: string;
  bucket: string;
  key: string;
}

/** A real S3-compatible server (s3rver) on 127.0.0.1, storing objects in a temporary directory. */
export interface TestS3Server {
  endpoint: string;
  /** A bucket created at start. */
  bucket: string;
  /** The credentials s3rver checks signatures against (fixed by s3rver, not secrets). */
  accessKeyId: string;
  secretAccessKey: string;
  /** Every call received, in order. */
  calls: S3Call[];
  /** Upload ids of multipart uploads started but neither completed nor aborted. */
  openUploads(bucket?: string): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 no longer offers, so every
 * truncated listing failed with a 500. Triple DES with the key repeated three times is the same cipher.
 */
function letS3rverUseDes(): void {
  const c = crypto as typeof crypto & { desShimmed?: boolean };
  if (c.desShimmed) return;
  c.desShimmed = true;
  const { createCipheriv, createDecipheriv } = crypto;
  const tripled = (alg: string, key: crypto.CipherKey): [string, crypto.CipherKey] =>
    alg === 'des' && Buffer.isBuffer(key) && key.length === 8
      ? ['des-ede3-cbc', Buffer.concat([key, key, key])]
      : [alg, key];
  c.createCipheriv = ((alg: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null, o?: unknown) =>
    createCipheriv(...tripled(alg, key), iv, o as undefined)) as typeof crypto.createCipheriv;
  c.createDecipheriv = ((alg: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null, o?: unknown) =>
    createDecipheriv(...tripled(alg, key), iv, o as undefined)) as typeof crypto.createDecipheriv;
}

/** Start s3rver on a free port with the given buckets. */
export async function startS3Server(opts: { buckets?: string[] } = {}): Promise<TestS3Server> {
  letS3rverUseDes();
  const buckets = opts.buckets ?? ['dbwarden-test'];
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const calls: S3Call[] = [];
  const uploadsDir = (bucket: string) => server.store.getResourcePath(bucket, undefined, 'uploads');

  // Runs before s3rver's own middleware: records each call, and adds AbortMultipartUpload, which s3rver lacks
  // (it answers 405) but every real S3 has and lib-storage sends when an upload fails.
  server.middleware.unshift(async (ctx, next) => {
    const [, bucket = '', ...rest] = ctx.path.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const call = { op: operation(ctx.method, ctx.query, key !== ''), bucket, key };
    calls.push(call);
    if (call.op === 'AbortMultipartUpload') {
      const id = String(ctx.query.uploadId);
      if (!/^[0-9a-f]{8,64}$/.test(id)) {
        ctx.status = 400;
        return;
      }
      await rm(join(uploadsDir(bucket), id), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await next();
  });

  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket: buckets[0]!,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    calls,
    async openUploads(bucket = buckets[0]!) {
      try {
        return await readdir(uploadsDir(bucket));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
    },
    async close() {
      server.httpServer.closeAllConnections();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Start an S3 server for this test file and point the AWS SDK's default credential chain at it. */
export function useS3Server(opts: { buckets?: string[] } = {}): TestS3Server {
  const handle = {} as TestS3Server;
  let server: TestS3Server | null = null;
  beforeAll(async () => {
    server = await startS3Server(opts);
    Object.assign(handle, server);
    vi.stubEnv('AWS_ACCESS_KEY_ID', server.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', server.secretAccessKey);
    // Never let the SDK's credential chain reach for an instance metadata service off this machine.
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server?.close();
  });
  return handle;
}

function operation(method: string, query: Record<string, unknown>, hasKey: boolean): string {
  const q = (name: string) => name in query;
  if (!hasKey) {
    if (method === 'GET') return q('list-type') ? 'ListObjectsV2' : 'ListObjects';
    if (method === 'PUT') return 'CreateBucket';
    if (method === 'POST' && q('delete')) return 'DeleteObjects';
    return `${method} bucket`;
  }
  switch (method) {
    case 'PUT':
      return q('uploadId') ? 'UploadPart' : 'PutObject';
    case 'POST':
      return q('uploads')
        ? 'CreateMultipartUpload'
        : q('uploadId')
          ? 'CompleteMultipartUpload'
          : 'PostObject';
    case 'DELETE':
      return q('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'HEAD':
      return 'HeadObject';
    case 'GET':
      return 'GetObject';
    default:
      return `${method} object`;
  }
}
