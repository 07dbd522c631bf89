import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';

/** A deploy as dbwarden cares about it, whichever host sent it. */
export interface DeployEvent {
  provider: 'railway' | 'github' | 'generic';
  /**
   * Names this delivery for replay protection, from authenticated content only: the event's own ids in a
   * GitHub-signed body, the signed timestamp and body of the generic shape. Never an unsigned header.
   */
  replayKey: string;
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
/** A signed generic delivery is accepted this long either side of its X-Dbwarden-Timestamp (as Slack does). */
export const SIGNATURE_WINDOW_MS = 5 * 60_000;
/** Replay keys are remembered this long; a GitHub deployment status older than this is refused as stale. */
export const REPLAY_MEMORY_MS = 7 * 86_400_000;

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

/** GitHub's X-Hub-Signature-256: sha256=<hex HMAC of the body>. */
function githubSignatureOk(secret: string, body: Buffer, signature: string | undefined): boolean {
  if (!signature?.startsWith('sha256=')) return false;
  const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return safeEqual(expected, signature);
}

/** The generic shape's signature: v0=<hex HMAC of "v0:{timestamp}:{body}">, so the time is signed too. */
export function signGeneric(secret: string, timestamp: string, body: Buffer | string): string {
  const mac = createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex');
  return `v0=${mac}`;
}

const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

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
      .object({
        id: z.number(),
        state: z.string(),
        description: z.string().nullish(),
        created_at: z.string().nullish(),
      })
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
 * GitHub signs the body with X-Hub-Signature-256; the generic shape takes a bearer token, or an HMAC of
 * "v0:{X-Dbwarden-Timestamp}:{body}" in X-Dbwarden-Signature, within SIGNATURE_WINDOW_MS of `now`.
 */
export function readDeployWebhook(req: WebhookRequest, secret: string, now: Date): WebhookOutcome {
  const githubEvent = header(req.headers, 'x-github-event');
  const bearer = /^Bearer (.+)$/i.exec(header(req.headers, 'authorization') ?? '')?.[1];
  const byToken =
    (req.pathToken !== null && req.pathToken !== '' && safeEqual(req.pathToken, secret)) ||
    (bearer !== undefined && safeEqual(bearer, secret));
  // A GitHub signature covers the body alone: it authenticates a GitHub event, never another shape.
  const byGithub =
    githubEvent !== undefined &&
    githubSignatureOk(secret, req.body, header(req.headers, 'x-hub-signature-256'));
  const signature = header(req.headers, 'x-dbwarden-signature');
  const timestamp = header(req.headers, 'x-dbwarden-timestamp');
  const bySignature =
    signature !== undefined &&
    timestamp !== undefined &&
    /^\d{1,12}$/.test(timestamp) &&
    safeEqual(signGeneric(secret, timestamp, req.body), signature);
  if (!byToken && !byGithub && !bySignature)
    return {
      kind: 'rejected',
      status: 401,
      reason:
        signature !== undefined && !signature.startsWith('v0=')
          ? 'X-Dbwarden-Signature must be v0=<HMAC-SHA256 of "v0:{X-Dbwarden-Timestamp}:{body}">: see docs/deploy.md'
          : 'missing or wrong secret or signature',
    };
  if (bySignature && !byToken && !byGithub) {
    const skew = Math.abs(now.getTime() - Number(timestamp) * 1000);
    if (skew > SIGNATURE_WINDOW_MS)
      return {
        kind: 'rejected',
        status: 401,
        reason:
          'X-Dbwarden-Timestamp is more than 5 minutes from now: a replay, or the sender’s clock is off',
      };
  }

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
    // The delivery header is not signed: a replay can change it. Past the replay memory, the signed date refuses it.
    const created = Date.parse(p.data.deployment_status.created_at ?? '');
    if (created < now.getTime() - REPLAY_MEMORY_MS)
      return { kind: 'rejected', status: 401, reason: 'deployment status is over 7 days old: a replay' };
    return {
      kind: 'event',
      event: {
        provider: 'github',
        replayKey: `github:${p.data.deployment.id}:${p.data.deployment_status.id}:${state}`,
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
        replayKey: `railway:${deployId}:${status}:${d.timestamp}`,
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
      // Signed: the signed time and body name the delivery (a resend of it is a replay, a new deploy is signed
      // anew). A token holder may send anything anyway, so its X-Delivery-Id or id is taken at its word.
      replayKey: bySignature
        ? `generic:v0:${timestamp}:${sha256(req.body)}`
        : `generic:${header(req.headers, 'x-delivery-id') ?? g.id ?? `${deployId}:${phase}:${sha256(req.body)}`}`,
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
