import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** A deploy as dbwarden cares about it, whichever host sent it. */
export interface DeployEvent {
  provider: 'railway' | 'github' | 'generic';
  /** Unique per delivery: a replayed delivery is ignored. */
  deliveryId: string;
  /** Identifies the deploy across its start and end events. */
  deployId: string;
  phase: 'started' | 'succeeded' | 'failed';
  service: string | null;
  environment: string | null;
  /** Commit hash or version label. */
  version: string | null;
  branch: string | null;
  message: string | null;
}

export interface WebhookRequest {
  /** Path after /hooks/deploy, e.g. "" or "/<token>". */
  pathToken: string | null;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type WebhookOutcome =
  | { kind: 'event'; event: DeployEvent }
  /** Understood and authentic, but nothing to do (a ping, a status we do not act on). */
  | { kind: 'ignored'; reason: string }
  | { kind: 'rejected'; status: 400 | 401; reason: string };

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

const header = (h: WebhookRequest['headers'], name: string): string | undefined => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** Compare secrets in constant time (lengths leak nothing useful: both sides are hashed first). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHmac('sha256', 'dbwarden').update(a).digest();
  const hb = createHmac('sha256', 'dbwarden').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function hmacOk(secret: string, body: Buffer, signature: string | undefined): boolean {
  if (!signature?.startsWith('sha256=')) return false;
  const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return safeEqual(expected, signature);
}

const railwaySchema = z
  .object({
    type: z.string().regex(/^Deployment\./),
    details: z
      .object({
        id: z.string().optional(),
        status: z.string().optional(),
        branch: z.string().nullish(),
        commitHash: z.string().nullish(),
        commitMessage: z.string().nullish(),
      })
      .loose(),
    resource: z
      .object({
        environment: z.object({ name: z.string() }).loose().optional(),
        service: z.object({ name: z.string() }).loose().optional(),
        deployment: z.object({ id: z.string() }).loose().optional(),
      })
      .loose(),
    timestamp: z.string(),
  })
  .loose();

const githubSchema = z
  .object({
    deployment_status: z
      .object({ id: z.number(), state: z.string(), description: z.string().nullish() })
      .loose(),
    deployment: z
      .object({
        id: z.number(),
        sha: z.string(),
        ref: z.string().nullish(),
        environment: z.string().nullish(),
        description: z.string().nullish(),
      })
      .loose(),
    repository: z.object({ name: z.string() }).loose().optional(),
  })
  .loose();

const genericSchema = z.object({
  service: z.string().min(1).max(200),
  environment: z.string().max(200).optional(),
  version: z.string().max(200).optional(),
  status: z.enum(['started', 'succeeded', 'failed', 'start', 'success', 'failure']),
  id: z.string().max(200).optional(),
});

const RAILWAY_STARTED = new Set([
  'initializing',
  'building',
  'deploying',
  'queued',
  'waiting',
  'needs_approval',
]);
const RAILWAY_SUCCEEDED = new Set(['success', 'deployed']);
const RAILWAY_FAILED = new Set(['failed', 'crashed']);

/**
 * Authenticate and read a deploy webhook. Railway signs nothing, so its secret travels as the path token;
 * GitHub signs with X-Hub-Signature-256; the generic shape takes a bearer token or an HMAC signature.
 */
export function readDeployWebhook(req: WebhookRequest, secret: string): WebhookOutcome {
  const githubEvent = header(req.headers, 'x-github-event');
  const signature = header(req.headers, 'x-hub-signature-256') ?? header(req.headers, 'x-dbwarden-signature');
  const bearer = /^Bearer (.+)$/i.exec(header(req.headers, 'authorization') ?? '')?.[1];
  const authentic =
    (req.pathToken !== null && req.pathToken !== '' && safeEqual(req.pathToken, secret)) ||
    (signature !== undefined && hmacOk(secret, req.body, signature)) ||
    (bearer !== undefined && safeEqual(bearer, secret));
  if (!authentic) return { kind: 'rejected', status: 401, reason: 'missing or wrong secret or signature' };

  let json: unknown;
  try {
    json = JSON.parse(req.body.toString('utf8'));
  } catch {
    return { kind: 'rejected', status: 400, reason: 'body is not JSON' };
  }

  if (githubEvent) {
    if (githubEvent === 'ping') return { kind: 'ignored', reason: 'ping' };
    if (githubEvent !== 'deployment_status')
      return { kind: 'ignored', reason: `GitHub event ${githubEvent.slice(0, 40)} is not watched` };
    const p = githubSchema.safeParse(json);
    if (!p.success)
      return { kind: 'rejected', status: 400, reason: `not a deployment_status payload: ${issues(p.error)}` };
    const state = p.data.deployment_status.state;
    const phase =
      state === 'success'
        ? 'succeeded'
        : state === 'failure' || state === 'error'
          ? 'failed'
          : state === 'in_progress' || state === 'pending' || state === 'queued'
            ? 'started'
            : null;
    if (!phase) return { kind: 'ignored', reason: `deployment state ${state}` };
    return {
      kind: 'event',
      event: {
        provider: 'github',
        deliveryId: header(req.headers, 'x-github-delivery') ?? `github:${p.data.deployment_status.id}`,
        deployId: `github:${p.data.deployment.id}`,
        phase,
        service: p.data.repository?.name ?? null,
        environment: p.data.deployment.environment ?? null,
        version: p.data.deployment.sha,
        branch: p.data.deployment.ref ?? null,
        message: p.data.deployment.description ?? p.data.deployment_status.description ?? null,
      },
    };
  }

  if (typeof json === 'object' && json !== null && typeof (json as { type?: unknown }).type === 'string') {
    const p = railwaySchema.safeParse(json);
    if (!p.success)
      return {
        kind: 'rejected',
        status: 400,
        reason: `not a Railway deployment payload: ${issues(p.error)}`,
      };
    const d = p.data;
    const status = (d.details.status ?? d.type.slice('Deployment.'.length)).toLowerCase();
    const phase = RAILWAY_SUCCEEDED.has(status)
      ? 'succeeded'
      : RAILWAY_FAILED.has(status)
        ? 'failed'
        : RAILWAY_STARTED.has(status)
          ? 'started'
          : null;
    if (!phase) return { kind: 'ignored', reason: `deployment status ${status}` };
    const deployId = d.resource.deployment?.id ?? d.details.id ?? 'unknown';
    return {
      kind: 'event',
      event: {
        provider: 'railway',
        deliveryId: `railway:${deployId}:${status}:${d.timestamp}`,
        deployId: `railway:${deployId}`,
        phase,
        service: d.resource.service?.name ?? null,
        environment: d.resource.environment?.name ?? null,
        version: d.details.commitHash ?? null,
        branch: d.details.branch ?? null,
        message: d.details.commitMessage ?? null,
      },
    };
  }

  const p = genericSchema.safeParse(json);
  if (!p.success)
    return {
      kind: 'rejected',
      status: 400,
      reason: `expected {service, environment?, version?, status}: ${issues(p.error)}`,
    };
  const g = p.data;
  const phase =
    g.status === 'started' || g.status === 'start'
      ? 'started'
      : g.status === 'failed' || g.status === 'failure'
        ? 'failed'
        : 'succeeded';
  const deployId = `generic:${g.service}:${g.version ?? g.id ?? 'unversioned'}`;
  return {
    kind: 'event',
    event: {
      provider: 'generic',
      deliveryId:
        header(req.headers, 'x-delivery-id') ??
        g.id ??
        `${deployId}:${phase}:${createHmac('sha256', 'd').update(req.body).digest('hex').slice(0, 16)}`,
      deployId,
      phase,
      service: g.service,
      environment: g.environment ?? null,
      version: g.version ?? null,
      branch: null,
      message: null,
    },
  };
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(body)'} ${i.message}`)
    .join('; ');
}

/** Remembers recent delivery ids so a replayed delivery runs nothing twice. */
export function createReplayGuard(max = 5000): { seen(id: string): boolean } {
  const ids = new Set<string>();
  return {
    seen(id) {
      if (ids.has(id)) return true;
      ids.add(id);
      if (ids.size > max) ids.delete(ids.values().next().value as string);
      return false;
    },
  };
}
