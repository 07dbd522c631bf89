import { createRequire } from 'node:module';
import type { webApi as WebApi } from '@slack/bolt';
import { DbwardenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

/** `require` as Bolt's own files resolve: its parts (bolt.ts) and the very @slack/web-api it uses. */
export const fromBolt = createRequire(createRequire(import.meta.url).resolve('@slack/bolt'));

/**
 * The @slack/web-api Bolt itself uses (what `import { webApi } from '@slack/bolt'` gives), without loading the rest
 * of Bolt: a one-shot verb that posts a message needs the Web API client only.
 */
const webApi: typeof WebApi = fromBolt('@slack/web-api');

/** How hard to try before a Slack call is given up. */
export interface SlackRetryPolicy {
  /** Total attempts, first included. */
  attempts: number;
  /** First backoff after a 5xx or network error; doubles each time. */
  baseDelayMs: number;
  /** A Retry-After longer than this is not waited for: the message would be stale. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: SlackRetryPolicy = { attempts: 5, baseDelayMs: 1000, maxRetryAfterMs: 120_000 };

/** Slack refused or could not be reached, after retries; `slackCode` is Slack's error (or http_503, network). */
export class SlackCallFailed extends DbwardenError {
  readonly slackCode: string;
  constructor(method: string, slackCode: string, attempts: number) {
    super(
      'slack-call-failed',
      `Slack ${method} failed: ${slackCode}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`,
      hintFor(slackCode, method),
    );
    this.slackCode = slackCode;
  }
}

function hintFor(code: string, method: string): string | undefined {
  const authFailed = code === 'invalid_auth' || code === 'not_authed' || code === 'token_revoked';
  if (authFailed && method === 'apps.connections.open')
    return 'Check SLACK_APP_TOKEN: in the app settings (Basic Information → App-Level Tokens) generate a token with connections:write';
  if (code === 'not_in_channel') return 'Invite the bot to the channel: /invite @dbwarden';
  if (code === 'channel_not_found') return 'Check SLACK_CHANNEL: a channel ID such as C0123456789';
  if (code === 'invalid_auth' || code === 'not_authed' || code === 'token_revoked')
    return 'Check SLACK_BOT_TOKEN: reinstall the app to the workspace and copy the Bot User OAuth Token';
  if (code === 'missing_scope') return 'Add the missing scope to manifest.json and reinstall the app';
  if (
    /^http_5\d\d$/.test(code) ||
    code === 'network' ||
    (code !== 'ratelimited' && TRANSIENT_PLATFORM.has(code))
  )
    return 'Slack is failing or cannot be reached (see status.slack.com); try again later.';
  return undefined;
}

/**
 * A WebClient that never retries on its own (no 30-minute silent retry loop): 429s reject with Retry-After and
 * `withSlackRetry` decides, so the total behaviour is one visible policy.
 */
export function slackWebClient(
  token: string,
  apiUrl: string | null | undefined,
  logger: Logger,
): WebApi.WebClient {
  return new webApi.WebClient(token, {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 30_000,
    logger: boltLogger(logger),
  });
}

type Failure = { code: string; retryAfterMs: number | null; transient: boolean };

const TRANSIENT_PLATFORM = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/** What a thrown Slack error means for retrying. */
export function classifySlackError(err: unknown): Failure {
  const e = err as {
    code?: string;
    retryAfter?: number;
    statusCode?: number;
    data?: { error?: string };
  };
  switch (e?.code) {
    case webApi.ErrorCode.RateLimitedError:
      return { code: 'ratelimited', retryAfterMs: (e.retryAfter ?? 1) * 1000, transient: true };
    case webApi.ErrorCode.HTTPError:
      return { code: `http_${e.statusCode}`, retryAfterMs: null, transient: (e.statusCode ?? 0) >= 500 };
    case webApi.ErrorCode.RequestError:
      return { code: 'network', retryAfterMs: null, transient: true };
    case webApi.ErrorCode.PlatformError: {
      const code = e.data?.error ?? 'unknown_error';
      return { code, retryAfterMs: null, transient: TRANSIENT_PLATFORM.has(code) };
    }
    case 'slack_bolt_respond_error':
      return {
        code: `http_${e.statusCode}`,
        retryAfterMs: null,
        transient: (e.statusCode ?? 0) >= 500 || e.statusCode === 429,
      };
    default:
      return { code: 'unknown_error', retryAfterMs: null, transient: false };
  }
}

/**
 * Run a Slack call, retrying 429 (after Retry-After) and 5xx/network errors (with backoff). Never silent:
 * each retry is logged, and giving up logs Slack's error code and rejects with SlackCallFailed.
 */
export async function withSlackRetry<T>(
  method: string,
  call: () => Promise<T>,
  opts: { logger: Logger; policy?: Partial<SlackRetryPolicy>; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const policy = { ...DEFAULT_RETRY, ...opts.policy };
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const f = classifySlackError(err);
      const wait = f.retryAfterMs ?? policy.baseDelayMs * 2 ** (attempt - 1);
      if (!f.transient || attempt >= policy.attempts || wait > policy.maxRetryAfterMs) {
        opts.logger.error(
          { slackError: f.code, method, attempts: attempt },
          `Slack ${method} failed: ${f.code}`,
        );
        throw new SlackCallFailed(method, f.code, attempt);
      }
      opts.logger.warn(
        { slackError: f.code, method, attempt, retryInMs: wait },
        `Slack ${method} failed (${f.code}), retrying`,
      );
      await sleep(wait);
    }
  }
}

/** Bolt's and the WebClient's logger interface over ours; never below info, as debug dumps payloads. */
export function boltLogger(logger: Logger): WebApi.Logger {
  const log = logger.child({ component: 'slack' });
  let level = webApi.LogLevel.INFO;
  const msg = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ');
  return {
    debug: () => {},
    info: (...args) => log.info(msg(args)),
    warn: (...args) => log.warn(msg(args)),
    error: (...args) => log.error(msg(args)),
    setLevel: (l) => {
      level = l === webApi.LogLevel.DEBUG ? webApi.LogLevel.INFO : l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
