import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';

/** A request handler; it owns the response. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The one HTTP server on PORT, shared by health, metrics, deploy webhooks and Slack's HTTP mode.
 * Routes match by method and exact path, or by prefix when the path ends with "/*".
 */
export interface HttpServer {
  route(method: string, path: string, handler: RouteHandler): void;
  /** Every address, IPv6 and IPv4, unless `host` names one. */
  listen(port: number, host?: string): Promise<number>;
  /** The bound port, once listening. */
  port(): number | null;
  close(): Promise<void>;
  readonly server: Server;
}

/** A request body over the route's limit (answer 413). */
export class BodyTooLarge extends Error {}

/**
 * A request body, up to `max` bytes: refused at once when Content-Length says more, and as soon as the stream
 * passes the limit otherwise, so an oversized body is never buffered whole.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Did the request fail because the client hung up (Node's "aborted" ECONNRESET on the request stream)? */
function clientWentAway(req: IncomingMessage, err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return req.destroyed && !req.complete && (code === 'ECONNRESET' || code === 'ECONNABORTED');
}

/** Build the server; routes may be added until (and after) it listens. */
export function createHttpServer(opts: { logger?: Logger } = {}): HttpServer {
  const routes: { method: string; path: string; prefix: boolean; handler: RouteHandler }[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = routes.find(
      (r) =>
        (r.method === req.method || (r.method === 'GET' && req.method === 'HEAD')) &&
        (r.prefix ? path.startsWith(r.path) : path === r.path),
    );
    if (!match) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    Promise.resolve()
      .then(() => match.handler(req, res))
      .catch((err: unknown) => {
        if (clientWentAway(req, err)) {
          // The sender's doing, not ours: a line to see, no stack, no 500 to nobody.
          opts.logger?.warn(
            { path: match.path, reason: (err as Error).message },
            'client closed the request early',
          );
          res.destroy();
          return;
        }
        opts.logger?.error({ err, path: match.path }, 'http handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":"internal error"}');
      });
  });
  // A slow client must not hold a connection open forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return {
    server,
    route(method, path, handler) {
      const prefix = path.endsWith('/*');
      routes.push({ method: method.toUpperCase(), path: prefix ? path.slice(0, -1) : path, prefix, handler });
    },
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        // No host: Node binds "::", which takes IPv6 and IPv4 alike (Railway's private network is IPv6 only),
        // or 0.0.0.0 on a machine without IPv6.
        server.listen({ port, ...(host ? { host } : {}) }, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    port() {
      const a = server.address();
      return a && typeof a === 'object' ? a.port : null;
    },
    close() {
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
