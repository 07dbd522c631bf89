import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderText } from '../chat/console/render-text.js';
import { BodyTooLarge, type HttpServer, readBody } from '../core/http.js';
import type { Logger } from '../core/log.js';
import type { Redactor } from '../core/secrets.js';
import { djangoClient } from '../deploy/django-client.js';
import { type PreflightHost, preflightOn } from '../deploy/preflight.js';
import { PREFLIGHT_EXIT } from '../deploy/preflight-report.js';
import {
  KEEPALIVE_MS,
  MAX_PREFLIGHT_BYTES,
  parsePreflightRequest,
  type RemoteVerdict,
} from '../deploy/remote-preflight.js';
import { safeEqual } from '../deploy/webhooks.js';

export interface PreflightRouteDeps {
  /** DBWARDEN_API_TOKEN: the route exists only when it is set. */
  token: string;
  /** The services serve built: the very ones `dbwarden preflight` uses locally. */
  host: PreflightHost;
  logger: Logger;
  redact: Redactor;
  /** True once shutdown began: new preflights are refused with 503. */
  stopping: () => boolean;
  /** Shutdown waits a little for preflights already running. */
  track: <T>(p: Promise<T>) => Promise<T>;
  keepAliveMs?: number;
}

function refuse(res: ServerResponse, status: number, error: string): void {
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      connection: 'close',
    })
    .end(`${JSON.stringify({ error })}\n`);
}

/**
 * POST /preflight: the local preflight for apps whose image has no Node (see deploy/remote-preflight.ts for the
 * protocol), and GET /preflight/django.py: the Django client that speaks it, the version that matches this service.
 */
export function mountRemotePreflight(http: HttpServer, deps: PreflightRouteDeps): void {
  // One preflight at a time: two deploys at once would race for the backup lock and one would fail.
  let queue: Promise<unknown> = Promise.resolve();
  const keepAliveMs = deps.keepAliveMs ?? KEEPALIVE_MS;

  http.route('POST', '/preflight', async (req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    // Before the body is read: a caller without the token makes dbwarden do nothing at all.
    if (!token || !safeEqual(token, deps.token)) {
      deps.logger.warn(
        { route: '/preflight', bearer: Boolean(token) },
        'remote preflight refused: wrong token',
      );
      return refuse(res, 401, 'missing or wrong bearer token (Authorization: Bearer <DBWARDEN_API_TOKEN>)');
    }
    if (deps.stopping()) return refuse(res, 503, 'shutting down');
    let body: Buffer;
    try {
      body = await readBody(req, MAX_PREFLIGHT_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLarge) return refuse(res, 413, `body over ${MAX_PREFLIGHT_BYTES} bytes`);
      throw err;
    }
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const parsed = parsePreflightRequest(body, req.headers['content-type'], query);
    const asText = query.get('format') === 'text';
    if (!parsed.ok) return refuse(res, 400, parsed.reason);
    const r = parsed.request;

    // Committed now: the answer is 200 and its body the verdict; newlines keep the connection alive meanwhile.
    res.writeHead(200, {
      'content-type': asText ? 'text/plain; charset=utf-8' : 'application/json',
      'cache-control': 'no-store',
    });
    res.write('\n');
    const beat = setInterval(() => res.write('\n'), keepAliveMs);
    const strict = r.strict ?? false;
    const timeoutMs = (r.timeoutSeconds ?? 600) * 1000;
    const run = async (): Promise<RemoteVerdict> => {
      // A backup already running here (scheduled, /backup-now) holds the lock: wait for it rather than fail.
      const waitedSince = Date.now();
      while (deps.host.backups?.running() && Date.now() - waitedSince < timeoutMs / 2)
        await new Promise((resolve) => setTimeout(resolve, 500));
      const pendingError = r.pendingError ? deps.redact(r.pendingError) : null;
      const { result, report } = await preflightOn(deps.host, {
        pending: async () => {
          if (pendingError) throw new Error(pendingError);
          return r.migrations.map((m) => ({ source: m.name, sql: m.sql }));
        },
        strict,
        backup: r.backup ?? false,
        allowDestructive: r.allowDestructive ?? false,
        timeoutMs: Math.max(1000, timeoutMs - (Date.now() - waitedSince)),
      });
      return { ...result, text: renderText(report, { maxLines: 60 }) };
    };
    const turn = queue.then(run);
    queue = turn.catch(() => {});
    try {
      const verdict = await deps.track(turn);
      deps.logger.info(
        {
          source: r.source ?? null,
          migrations: r.migrations.length,
          verdict: verdict.verdict,
          exitCode: verdict.exitCode,
          backup: verdict.backup?.id ?? null,
        },
        'remote preflight',
      );
      res.end(asText ? `${verdict.text}\n${verdict.exitCode}\n` : `${JSON.stringify(verdict)}\n`);
    } catch (err) {
      // runPreflight turns every step's failure into a problem; reaching here is dbwarden itself failing.
      const message = deps.redact(String((err as Error).message ?? err));
      deps.logger.error({ err: message }, 'remote preflight failed');
      const exitCode = strict ? PREFLIGHT_EXIT.failure : PREFLIGHT_EXIT.ok;
      res.end(
        `${JSON.stringify({ error: message, exitCode, text: `dbwarden preflight failed: ${message}` })}\n`,
      );
    } finally {
      clearInterval(beat);
    }
  });

  http.route('GET', '/preflight/django.py', (_req, res) => {
    res
      .writeHead(200, {
        'content-type': 'text/x-python; charset=utf-8',
        'content-disposition': 'attachment; filename="dbwarden_preflight.py"',
      })
      .end(djangoClient());
  });
}
