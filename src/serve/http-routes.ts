import type { ServerResponse } from 'node:http';
import type { HttpServer } from '../core/http.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

export interface OpsRoutesDeps {
  readiness: () => Promise<Readiness>;
  metrics: Metrics;
  /** Bring database gauges up to date before a scrape (cached by the caller). */
  refreshMetrics?: () => Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(`${JSON.stringify(body)}\n`);
}

/** GET /healthz (the process answers), /readyz (database, store, chat: 503 naming what is down), /metrics. */
export function mountOpsRoutes(http: HttpServer, deps: OpsRoutesDeps): void {
  http.route('GET', '/healthz', (_req, res) => json(res, 200, { ok: true }));
  http.route('GET', '/readyz', async (_req, res) => {
    const r = await deps.readiness();
    json(res, r.ready ? 200 : 503, r);
  });
  http.route('GET', '/metrics', async (_req, res) => {
    // A scrape must still answer when the database is down: the gauges then say so.
    await deps.refreshMetrics?.().catch(() => {});
    const { contentType, text } = await deps.metrics.exposition();
    res.writeHead(200, { 'content-type': contentType }).end(text);
  });
}

/** Refresh at most once per interval, however often Prometheus scrapes; concurrent scrapes share one probe. */
export function throttleRefresh(fn: () => Promise<void>, minIntervalMs: number): () => Promise<void> {
  let last = 0;
  let running: Promise<void> | null = null;
  return () => {
    if (running) return running;
    if (Date.now() - last < minIntervalMs) return Promise.resolve();
    running = fn().finally(() => {
      last = Date.now();
      running = null;
    });
    return running;
  };
}
