import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../src/core/config.js';
import { readText } from '../src/store/blob-store.js';
import { openStore } from '../src/store/open-store.js';
import { describeS3Error, StoreError } from '../src/store/s3-errors.js';
import { createS3Store, parseS3Url } from '../src/store/s3-store.js';
import { useS3Server } from './helpers/s3-server.js';
import { storeContract } from './helpers/store-contract.js';

const s3 = useS3Server({ buckets: ['dbwarden-test', 'other-bucket'] });
const MiB = 1024 * 1024;
let n = 0;
/** A store under a fresh prefix, with S3's smallest part size so multipart starts at 5 MiB. */
const freshStore = (extra: { pageSize?: number } = {}) =>
  createS3Store({ url: `s3://${s3.bucket}/run-${++n}`, endpoint: s3.endpoint, partSize: 5 * MiB, ...extra });
const callsFor = (key: string) => s3.calls.filter((c) => c.key.endsWith(key)).map((c) => c.op);

storeContract('the S3 store', {
  makeStore: () => freshStore(),
  bytesBeforeFailure: 11 * MiB,
  bigBytes: 24 * MiB,
  async afterFailedPut(_store, key) {
    // The multipart upload was begun and then aborted, not left open (it would be billed on real S3).
    expect(callsFor(key)).toContain('AbortMultipartUpload');
    expect(await s3.openUploads()).toEqual([]);
  },
});

describe('the S3 store over HTTP', () => {
  test('a 12 MiB stream goes up as a multipart upload of 5 MiB parts', async () => {
    const store = freshStore();
    const data = Buffer.alloc(12 * MiB, 'x');
    const info = await store.put(
      'backups/multi.dump',
      Readable.from([data.subarray(0, 3 * MiB), data.subarray(3 * MiB)]),
    );
    expect(info.size).toBe(12 * MiB);
    expect(callsFor('backups/multi.dump')).toEqual([
      'CreateMultipartUpload',
      'UploadPart',
      'UploadPart',
      'UploadPart',
      'CompleteMultipartUpload',
      'HeadObject',
    ]);
    expect(await s3.openUploads()).toEqual([]);
  });

  test('a small object goes up in one PutObject', async () => {
    const store = freshStore();
    await store.put('backups/small.json', '{}');
    expect(callsFor('backups/small.json')).toEqual(['PutObject', 'HeadObject']);
  });

  test('lists past a page with continuation tokens', async () => {
    const store = freshStore({ pageSize: 2 });
    const keys = ['backups/e', 'backups/a', 'backups/d', 'backups/c', 'backups/b'];
    for (const key of keys) await store.put(key, key);
    const before = s3.calls.length;
    expect((await store.list('backups/')).map((b) => b.key)).toEqual([...keys].sort());
    const listCalls = s3.calls.slice(before).filter((c) => c.op === 'ListObjectsV2');
    expect(listCalls).toHaveLength(3);
  });

  test('keys live under the prefix; stores with other prefixes do not see them', async () => {
    const a = createS3Store({ url: `s3://${s3.bucket}/team/a/`, endpoint: s3.endpoint });
    const b = createS3Store({ url: `s3://${s3.bucket}/team/b`, endpoint: s3.endpoint });
    const root = createS3Store({ url: `s3://${s3.bucket}`, endpoint: s3.endpoint });
    await a.put('backups/x.json', 'a');
    await b.put('backups/x.json', 'b');
    expect(await readText(a, 'backups/x.json')).toBe('a');
    expect((await b.list('')).map((o) => o.key)).toEqual(['backups/x.json']);
    expect((await root.list('team/')).map((o) => o.key)).toEqual([
      'team/a/backups/x.json',
      'team/b/backups/x.json',
    ]);
    expect(a.location).toBe(`s3://${s3.bucket}/team/a`);
    expect(root.location).toBe(`s3://${s3.bucket}`);
  });

  test('openStore picks S3 for s3:// URLs and a directory otherwise', async () => {
    const store = await openStore(
      loadConfig({ DBWARDEN_STORE: `s3://${s3.bucket}/via-config`, S3_ENDPOINT: s3.endpoint }),
    );
    expect(store.location).toBe(`s3://${s3.bucket}/via-config`);
    await store.put('hello.txt', 'from config');
    expect(
      await readText(
        createS3Store({ url: `s3://${s3.bucket}`, endpoint: s3.endpoint }),
        'via-config/hello.txt',
      ),
    ).toBe('from config');

    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-open-store-'));
    try {
      const files = await openStore(loadConfig({ DBWARDEN_STORE: dir }));
      expect(files.location).toBe(dir);
      await files.put('a.txt', 'on disk');
      expect(await readText(files, 'a.txt')).toBe('on disk');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('S3 errors people can act on', () => {
  test('a missing bucket is named, with a hint', async () => {
    const store = createS3Store({ url: 's3://no-such-bucket/x', endpoint: s3.endpoint });
    const err = await store.list('').catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe('store-bucket-missing');
    expect(err.message).toContain('"no-such-bucket"');
    expect(err.hint).toMatch(/Create the bucket/);
    await expect(store.put('a.txt', 'x')).rejects.toMatchObject({ code: 'store-bucket-missing' });
    // A streamed put that fails this way stops reading its source.
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 1000; i++) yield Buffer.alloc(64 * 1024, i);
      })(),
    );
    await expect(store.put('b.dump', source)).rejects.toMatchObject({ code: 'store-bucket-missing' });
    expect(source.destroyed).toBe(true);
    await expect(store.get('a.txt')).rejects.toMatchObject({ code: 'store-bucket-missing' });
  });

  test('an unknown access key is "credentials rejected", and no credential appears in the error', async () => {
    // s3rver checks the access key id (it does not recompute SigV4 signatures), so the key id is the wrong part.
    const keyId = ['AKIA', 'TEST', Date.now().toString(36).toUpperCase()].join('');
    const secret = ['wrong', 'secret', Date.now().toString(36)].join('-');
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = keyId;
    process.env.AWS_SECRET_ACCESS_KEY = secret;
    try {
      const store = createS3Store({ url: `s3://${s3.bucket}/denied`, endpoint: s3.endpoint });
      const err = await store.put('a.txt', 'x').catch((e) => e);
      expect(err).toMatchObject({ code: 'store-credentials-rejected' });
      expect(err.message).toContain('InvalidAccessKeyId');
      expect(err.hint).toMatch(/AWS_SECRET_ACCESS_KEY/);
      const shown = JSON.stringify({ ...err.toJSON(), stack: err.stack });
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(keyId);
      expect(await store.list('').catch((e) => e.code)).toBe('store-credentials-rejected');
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  test('an endpoint nobody listens on is "unreachable", naming the endpoint', async () => {
    const port = await closedPort();
    const store = createS3Store({ url: 's3://bucket-x/p', endpoint: `http://127.0.0.1:${port}` });
    const err = await store.list('').catch((e) => e);
    expect(err).toMatchObject({ code: 'store-unreachable' });
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.hint).toMatch(/S3_ENDPOINT/);
  });

  test('access denied by a bucket policy says which permissions are needed', () => {
    // s3rver has no policies, so this is the error a real S3 sends, built with the SDK's own class.
    const denied = new S3ServiceException({
      name: 'AccessDenied',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
      message: 'Access Denied',
    });
    const err = describeS3Error(denied, {
      action: 'upload of backups/x.dump',
      location: 's3://b/p',
      bucket: 'b',
      endpointHost: null,
    });
    expect(err.code).toBe('store-access-denied');
    expect(err.message).toBe('Access to s3://b/p was denied during upload of backups/x.dump.');
    expect(err.hint).toMatch(/s3:PutObject/);
  });

  test('endpoint user-info never reaches a message', () => {
    const err = describeS3Error(new Error('request to https://key:hunter22@s3.example.com failed'), {
      action: 'listing',
      location: 's3://b',
      bucket: 'b',
      endpointHost: 's3.example.com',
    });
    expect(err.code).toBe('store-error');
    expect(err.message).not.toContain('hunter22');
  });
});

describe('parseS3Url', () => {
  test('splits bucket and prefix, normalising slashes', () => {
    expect(parseS3Url('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Url('s3://my-bucket/')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Url('s3://my.bucket/db/prod')).toEqual({ bucket: 'my.bucket', prefix: 'db/prod/' });
    expect(parseS3Url('s3://my-bucket/db/prod/')).toEqual({ bucket: 'my-bucket', prefix: 'db/prod/' });
  });

  test('refuses what is not a bucket URL or has an unsafe prefix', () => {
    for (const bad of [
      's3://',
      's3://A_Bucket/x',
      'https://bucket/x',
      's3://bucket/../x',
      's3://bucket/a b',
    ]) {
      expect(() => parseS3Url(bad), bad).toThrow(StoreError);
    }
  });
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
