import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, type HttpServer, readBody } from '../core/http.js';
import type { Logger } from '../core/log.js';
import type { BlobStore } from '../store/blob-store.js';
import { createReplayMemory } from './replay-memory.js';
import { type DeployEvent, MAX_WEBHOOK_BYTES, REPLAY_MEMORY_MS, readDeployWebhook } from './webhooks.js';

export interface WebhookRouteDeps {
  secret: string;
  logger: Logger;
  /** Where deliveries already acted on are remembered (state/deliveries/), shared by restarts and replicas. */
  store: BlobStore | null;
  clock: () => Date;
  /** Runs after the 202 has been sent: the sender never waits for the check. */
  onEvent: (event: DeployEvent) => Promise<unknown>;
  /** True once shutdown began: deliveries are refused with 503 so the sender retries elsewhere. */
  stopping?: () => boolean;
}

/** POST /hooks/deploy and /hooks/deploy/<token>: authenticate, read, drop replays, answer 202, then check. */
export function mountDeployWebhooks(http: HttpServer, deps: WebhookRouteDeps): void {
  const replays = createReplayMemory({
    store: deps.store,
    clock: deps.clock,
    keepMs: REPLAY_MEMORY_MS,
    logger: deps.logger,
  });
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const reply = (status: number, body: Record<string, unknown>): void => {
      res
        .writeHead(status, { 'content-type': 'application/json', connection: 'close' })
        .end(`${JSON.stringify(body)}\n`);
    };
    if (deps.stopping?.()) return reply(503, { error: 'shutting down' });
    let body: Buffer;
    try {
      body = await readBody(req, MAX_WEBHOOK_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLarge) return reply(413, { error: `body over ${MAX_WEBHOOK_BYTES} bytes` });
      throw err;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    const token = path.startsWith('/hooks/deploy/') ? decodeToken(path.slice('/hooks/deploy/'.length)) : null;
    const outcome = readDeployWebhook(
      { pathToken: token, headers: req.headers, body },
      deps.secret,
      deps.clock(),
    );
    if (outcome.kind === 'rejected') {
      deps.logger.warn({ status: outcome.status, reason: outcome.reason }, 'deploy webhook rejected');
      return reply(outcome.status, { error: outcome.reason });
    }
    if (outcome.kind === 'ignored') return reply(200, { ignored: outcome.reason });
    const event = outcome.event;
    if (await replays.seen(event.replayKey)) {
      deps.logger.info({ deploy: event.deployId, phase: event.phase }, 'deploy webhook replay ignored');
      return reply(200, { ignored: 'replayed delivery' });
    }
    reply(202, { accepted: event.deployId, phase: event.phase });
    deps.logger.info(
      { deploy: event.deployId, phase: event.phase, provider: event.provider },
      'deploy webhook',
    );
    void deps.onEvent(event).catch((err: unknown) => deps.logger.error({ err }, 'deploy check failed'));
  };
  http.route('POST', '/hooks/deploy', handler);
  http.route('POST', '/hooks/deploy/*', handler);
}

/** A path token as sent; a malformed escape ("%") is kept raw, so it simply fails the secret comparison (401). */
function decodeToken(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
