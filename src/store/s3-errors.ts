import { DbwardenError } from '../core/errors.js';

/** A store could not do what was asked; the code says why (bucket missing, access denied, unreachable…). */
export class StoreError extends DbwardenError {}

/** Where an S3 call went wrong, for the message: never credentials. */
export interface S3Context {
  action: string;
  location: string;
  bucket: string;
  /** Host (and port) of S3_ENDPOINT, or null for AWS. */
  endpointHost: string | null;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
]);

/** Turn an AWS SDK or network error into a StoreError a user can act on. */
export function describeS3Error(err: unknown, ctx: S3Context): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const where = ctx.endpointHost ? `at ${ctx.endpointHost}` : 'on AWS';
  const network = networkCode(err);

  if (network || name === 'TimeoutError')
    return new StoreError(
      'store-unreachable',
      `S3 endpoint ${ctx.endpointHost ?? 'AWS'} could not be reached during ${ctx.action} (${network ?? 'timeout'}).`,
      ctx.endpointHost
        ? 'Check S3_ENDPOINT (scheme, host and port) and that the network lets dbwarden reach it.'
        : 'Check the network (outbound HTTPS to AWS), or set S3_ENDPOINT for R2, MinIO or B2.',
    );
  if (name === 'NoSuchBucket')
    return new StoreError(
      'store-bucket-missing',
      `The S3 bucket "${ctx.bucket}" does not exist ${where}.`,
      'Create the bucket, or fix the bucket in DBWARDEN_STORE (s3://bucket/prefix) or S3_ENDPOINT.',
    );
  if (name === 'CredentialsProviderError')
    return new StoreError(
      'store-no-credentials',
      `No S3 credentials were found for ${ctx.location}.`,
      'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or give the host an instance role).',
    );
  if (CREDENTIAL_CODES.has(name))
    return new StoreError(
      'store-credentials-rejected',
      `S3 ${where} rejected the credentials during ${ctx.action} (${name}).`,
      'Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and AWS_REGION when the provider needs one (B2).',
    );
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || status === 403)
    return new StoreError(
      'store-access-denied',
      `Access to ${ctx.location} was denied during ${ctx.action}.`,
      'Let these credentials list, read, write and delete under the prefix (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload).',
    );
  if (/region is missing/i.test(e.message ?? ''))
    return new StoreError('store-config', 'No S3 region is configured.', 'Set AWS_REGION (R2: auto).');
  return new StoreError(
    'store-error',
    `S3 ${ctx.action} on ${ctx.location} failed: ${name}${status ? ` (HTTP ${status})` : ''}${safeDetail(e.message)}`,
    'Check S3_ENDPOINT, AWS_REGION and the bucket; the logs have details.',
  );
}

/** A Node network error code anywhere in the cause chain (the SDK wraps some). */
function networkCode(err: unknown): string | null {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return null;
}

/** The provider's own words, first line only, with any URL user-info masked. */
function safeDetail(message: string | undefined): string {
  if (!message || message === 'UnknownError') return '';
  const line = message
    .split('\n')[0]!
    .replace(/\/\/[^/@\s]+@/g, '//***@')
    .slice(0, 200);
  return `: ${line}`;
}
