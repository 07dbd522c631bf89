import * as z from 'zod';
import { DbwardenError } from '../core/errors.js';
import type { PendingSql } from './pending-sql.js';
import type { PreflightResult } from './preflight-report.js';

/**
 * The remote preflight's wire protocol, one definition for the service (serve's POST /preflight) and its clients
 * (`dbwarden preflight --remote`; contrib/django/dbwarden_preflight.py speaks the same).
 *
 * Request: `Authorization: Bearer <DBWARDEN_API_TOKEN>`, a JSON body (schema below). Answer: 401, 400, 413 or 503
 * with `{"error"}` when nothing ran; otherwise 200 at once, then a newline every KEEPALIVE_MS while the preflight
 * runs (a backup can take minutes; idle proxies and clients must not cut it), then one JSON object: the verdict as
 * `preflight --json` prints it plus `text`, the report as `preflight` prints it. JSON parsers skip the leading
 * newlines. The HTTP status is 200 whatever the verdict: the verdict is in `exitCode`. With `?format=text` the
 * answer is the report as text and, on its last line, the exit code alone (for shell clients without a JSON parser).
 */
export const MAX_PREFLIGHT_BYTES = 5 * 1024 * 1024;
export const KEEPALIVE_MS = 10_000;

export const preflightRequestSchema = z
  .object({
    /** The pending migrations in the order they will run: a name (app.0003_x, a file name) and the SQL. */
    migrations: z.array(z.object({ name: z.string().min(1).max(300), sql: z.string() }).strict()).max(10_000),
    strict: z.boolean().optional(),
    backup: z.boolean().optional(),
    /** The deploy's DBWARDEN_ALLOW_DESTRUCTIVE, as set where the client runs. */
    allowDestructive: z.boolean().optional(),
    timeoutSeconds: z.number().int().min(1).max(3600).optional(),
    /** Which client sent it (django, curl, dbwarden): logged. */
    source: z.string().max(80).optional(),
    /** The client could not list the pending migrations: why. It is reported as dbwarden failing, as locally. */
    pendingError: z.string().max(4000).optional(),
  })
  .strict();

export type PreflightRequestBody = z.infer<typeof preflightRequestSchema>;

/** The answer once the preflight ran. */
export type RemoteVerdict = PreflightResult & { text: string };

const flag = (v: string | null) =>
  v === null ? undefined : ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());

/**
 * A body as received → the request, or a reason fit for a 400 (never echoing the SQL). JSON as above, or, for
 * shell clients (curl), the SQL itself as `Content-Type: application/sql` with the flags in the query string
 * (`?strict=1&backup=1&allowDestructive=1&name=pending.sql&timeoutSeconds=600`).
 */
export function parsePreflightRequest(
  body: Buffer,
  contentType: string | undefined,
  query: URLSearchParams,
): { ok: true; request: PreflightRequestBody } | { ok: false; reason: string } {
  let json: unknown;
  if (/^(application\/sql|text\/plain)\b/i.test(contentType ?? '')) {
    const seconds = query.get('timeoutSeconds');
    json = {
      migrations: [{ name: query.get('name') || 'request.sql', sql: body.toString('utf8') }],
      strict: flag(query.get('strict')),
      backup: flag(query.get('backup')),
      allowDestructive: flag(query.get('allowDestructive')),
      timeoutSeconds: seconds === null ? undefined : Number(seconds),
      source: query.get('source') ?? 'sql',
    };
  } else {
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return { ok: false, reason: `the body is not JSON: ${(err as Error).message.slice(0, 200)}` };
    }
  }
  const r = preflightRequestSchema.safeParse(json);
  if (r.success) return { ok: true, request: r.data };
  const issues = r.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`);
  return {
    ok: false,
    reason: `${issues.join('; ')} (expected {"migrations": [{"name", "sql"}], "strict"?, "backup"?, …})`,
  };
}

/** POST the pending SQL to a dbwarden service; resolves with its verdict, rejects with what went wrong. */
export async function requestRemotePreflight(opts: {
  url: string;
  token: string;
  pending: PendingSql[];
  strict: boolean;
  backup: boolean;
  allowDestructive: boolean;
  timeoutMs: number;
  pendingError?: string;
}): Promise<RemoteVerdict> {
  const body: PreflightRequestBody = {
    migrations: opts.pending.map((p) => ({ name: p.source, sql: p.sql })),
    strict: opts.strict,
    backup: opts.backup,
    allowDestructive: opts.allowDestructive,
    timeoutSeconds: Math.max(1, Math.min(3600, Math.round(opts.timeoutMs / 1000))),
    source: 'dbwarden',
    ...(opts.pendingError ? { pendingError: opts.pendingError.slice(0, 4000) } : {}),
  };
  const endpoint = `${opts.url.replace(/\/+$/, '')}/preflight`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.token}` },
      body: JSON.stringify(body),
      // The service bounds the preflight by timeoutSeconds; a minute more covers the post and the answer.
      signal: AbortSignal.timeout(opts.timeoutMs + 60_000),
    });
    text = await res.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DbwardenError(
      'remote-preflight-failed',
      `Cannot reach dbwarden at ${endpoint}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      'Check the URL (on Railway: http://<service>.railway.internal:<PORT>) and that dbwarden serve is running.',
    );
  }
  let json: Partial<RemoteVerdict> & { error?: string };
  try {
    json = JSON.parse(text);
  } catch {
    json = {};
  }
  if (res.status !== 200 || typeof json.exitCode !== 'number')
    throw new DbwardenError(
      'remote-preflight-failed',
      `dbwarden answered ${res.status}: ${json.error ?? text.trim().slice(0, 200)}`,
      res.status === 401
        ? 'DBWARDEN_API_TOKEN here must be the dbwarden service’s DBWARDEN_API_TOKEN.'
        : res.status === 404
          ? 'POST /preflight is on only when the service has DBWARDEN_API_TOKEN set.'
          : undefined,
    );
  return json as RemoteVerdict;
}
