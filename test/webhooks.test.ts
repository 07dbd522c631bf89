import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReplayMemory, DELIVERIES_PREFIX } from '../src/deploy/replay-memory.js';
import { REPLAY_MEMORY_MS, readDeployWebhook as read, signGeneric } from '../src/deploy/webhooks.js';
import { createFileStore } from '../src/store/file-store.js';

const SECRET = 'whsec-test-0123456789abcdef';
const railway = (status: string, type = `Deployment.${status.toLowerCase()}`) => ({
  type,
  details: {
    id: 'dep-1',
    source: 'GitHub',
    status,
    branch: 'main',
    commitHash: 'abc1234',
    commitAuthor: 'ana',
    commitMessage: 'Drop legacy table',
  },
  resource: {
    workspace: { id: 'w', name: 'acme' },
    project: { id: 'p', name: 'shop' },
    environment: { id: 'e', name: 'production', isEphemeral: false },
    service: { id: 's', name: 'web' },
    deployment: { id: 'd-42' },
  },
  severity: 'INFO',
  timestamp: '2026-11-24T10:00:00.000Z',
});
const body = (x: unknown) => Buffer.from(JSON.stringify(x));
const NOW = new Date('2026-11-24T10:00:30.000Z');
const readDeployWebhook = (req: Parameters<typeof read>[0], secret: string, now = NOW) =>
  read(req, secret, now);

describe('deploy webhooks', () => {
  it('reads Railway deployment events authenticated by the path token', () => {
    const ok = readDeployWebhook(
      { pathToken: SECRET, headers: {}, body: body(railway('DEPLOYING')) },
      SECRET,
    );
    expect(ok).toEqual({
      kind: 'event',
      event: expect.objectContaining({
        provider: 'railway',
        phase: 'started',
        deployId: 'railway:d-42',
        service: 'web',
        environment: 'production',
        version: 'abc1234',
      }),
    });
    const done = readDeployWebhook(
      { pathToken: SECRET, headers: {}, body: body(railway('SUCCESS', 'Deployment.deployed')) },
      SECRET,
    );
    expect(done.kind === 'event' && done.event.phase).toBe('succeeded');
    const crashed = readDeployWebhook(
      { pathToken: SECRET, headers: {}, body: body(railway('CRASHED')) },
      SECRET,
    );
    expect(crashed.kind === 'event' && crashed.event.phase).toBe('failed');
    expect(
      readDeployWebhook({ pathToken: SECRET, headers: {}, body: body(railway('SLEEPING')) }, SECRET).kind,
    ).toBe('ignored');
  });

  it('rejects a wrong or missing secret with 401 before reading the body', () => {
    for (const pathToken of [null, '', 'wrong-token', `${SECRET}x`])
      expect(
        readDeployWebhook({ pathToken, headers: {}, body: Buffer.from('not json') }, SECRET),
      ).toMatchObject({ kind: 'rejected', status: 401 });
  });

  it('verifies GitHub deployment_status signatures', () => {
    const payload = body({
      deployment_status: { id: 9, state: 'success' },
      deployment: { id: 77, sha: 'deadbeef', ref: 'main', environment: 'production' },
      repository: { name: 'shop' },
    });
    const sig = `sha256=${createHmac('sha256', SECRET).update(payload).digest('hex')}`;
    const headers = {
      'x-github-event': 'deployment_status',
      'x-github-delivery': 'uuid-1',
      'x-hub-signature-256': sig,
    };
    expect(readDeployWebhook({ pathToken: null, headers, body: payload }, SECRET)).toEqual({
      kind: 'event',
      event: expect.objectContaining({
        provider: 'github',
        replayKey: 'github:77:9:success',
        deployId: 'github:77',
        phase: 'succeeded',
        version: 'deadbeef',
        service: 'shop',
      }),
    });
    const tampered = Buffer.from(payload.toString().replace('success', 'failure'));
    expect(readDeployWebhook({ pathToken: null, headers, body: tampered }, SECRET)).toMatchObject({
      kind: 'rejected',
      status: 401,
    });
    expect(
      readDeployWebhook(
        { pathToken: null, headers: { ...headers, 'x-github-event': 'ping' }, body: payload },
        SECRET,
      ).kind,
    ).toBe('ignored');
  });

  it('reads the generic shape with a bearer token, and says what is wrong with a malformed one', () => {
    const headers = { authorization: `Bearer ${SECRET}` };
    const r = readDeployWebhook(
      {
        pathToken: null,
        headers,
        body: body({ service: 'api', environment: 'prod', version: 'v1.2.3', status: 'succeeded' }),
      },
      SECRET,
    );
    expect(r).toMatchObject({
      kind: 'event',
      event: { provider: 'generic', phase: 'succeeded', deployId: 'generic:api:v1.2.3' },
    });
    expect(readDeployWebhook({ pathToken: null, headers, body: Buffer.from('{"service":') }, SECRET)).toEqual(
      { kind: 'rejected', status: 400, reason: 'body is not JSON' },
    );
    const bad = readDeployWebhook(
      { pathToken: null, headers, body: body({ service: 'api', status: 'exploded' }) },
      SECRET,
    );
    expect(bad).toMatchObject({ kind: 'rejected', status: 400, reason: expect.stringContaining('status') });
  });

  it('keys GitHub replays on the signed ids, never the unsigned delivery header, and refuses stale statuses', () => {
    const payload = (createdAt: string) =>
      body({
        deployment_status: { id: 9, state: 'in_progress', created_at: createdAt },
        deployment: { id: 77, sha: 'deadbeef', ref: 'main', environment: 'production' },
      });
    const headers = (b: Buffer, delivery: string) => ({
      'x-github-event': 'deployment_status',
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(b).digest('hex')}`,
    });
    const fresh = payload('2026-11-24T09:59:00Z');
    const keys = ['uuid-1', 'uuid-2'].map((d) => {
      const r = readDeployWebhook({ pathToken: null, headers: headers(fresh, d), body: fresh }, SECRET);
      return r.kind === 'event' ? r.event.replayKey : r;
    });
    expect(keys).toEqual(['github:77:9:in_progress', 'github:77:9:in_progress']);
    // Older than the replay memory: the signed date refuses it once its key has been forgotten.
    const old = payload('2026-11-10T09:59:00Z');
    expect(
      readDeployWebhook({ pathToken: null, headers: headers(old, 'uuid-3'), body: old }, SECRET),
    ).toEqual({
      kind: 'rejected',
      status: 401,
      reason: 'deployment status is over 7 days old: a replay',
    });
    // A GitHub signature authenticates GitHub events only, not a generic body signed the same way.
    const generic = body({ service: 'api', status: 'started' });
    const { 'x-github-event': _, ...noEvent } = headers(generic, 'uuid-4');
    expect(readDeployWebhook({ pathToken: null, headers: noEvent, body: generic }, SECRET)).toMatchObject({
      kind: 'rejected',
      status: 401,
    });
  });

  it('verifies the generic v0 signature over timestamp and body, within 5 minutes of now', () => {
    const payload = body({ service: 'api', version: 'v7', status: 'started' });
    const signed = (ts: number, b = payload, delivery = 'd-1') => ({
      pathToken: null,
      headers: {
        'x-dbwarden-timestamp': String(ts),
        'x-dbwarden-signature': signGeneric(SECRET, String(ts), b),
        'x-delivery-id': delivery,
      },
      body: b,
    });
    const ts = Math.floor(NOW.getTime() / 1000) - 20;
    const ok = readDeployWebhook(signed(ts), SECRET);
    expect(ok).toMatchObject({ kind: 'event', event: { provider: 'generic', phase: 'started' } });
    // A new X-Delivery-Id changes nothing: the key is the signed time and body.
    const again = readDeployWebhook(signed(ts, payload, 'd-2'), SECRET);
    expect(again.kind === 'event' && ok.kind === 'event' && again.event.replayKey).toBe(
      ok.kind === 'event' && ok.event.replayKey,
    );
    expect(ok.kind === 'event' && ok.event.replayKey).toMatch(new RegExp(`^generic:v0:${ts}:[0-9a-f]{64}$`));
    for (const stale of [ts - 6 * 60, ts + 6 * 60])
      expect(readDeployWebhook(signed(stale), SECRET)).toMatchObject({
        kind: 'rejected',
        status: 401,
        reason: expect.stringContaining('more than 5 minutes from now'),
      });
    // A fresh timestamp on an old signature does not verify.
    const moved = signed(ts);
    moved.headers['x-dbwarden-timestamp'] = String(ts + 60);
    expect(readDeployWebhook(moved, SECRET)).toMatchObject({ kind: 'rejected', status: 401 });
    // The old body-only scheme is refused with a pointer to the new one.
    const legacy = `sha256=${createHmac('sha256', SECRET).update(payload).digest('hex')}`;
    expect(
      readDeployWebhook(
        { pathToken: null, headers: { 'x-dbwarden-signature': legacy }, body: payload },
        SECRET,
      ),
    ).toMatchObject({ kind: 'rejected', status: 401, reason: expect.stringContaining('docs/deploy.md') });
  });

  it('remembers deliveries in the store: a second instance sees the first one’s, expired ones are pruned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbwarden-replays-'));
    try {
      const store = createFileStore(dir);
      // Markers carry the store's own time (a file's mtime, an object's LastModified), so the clock is the real one.
      const memory = (keepMs = REPLAY_MEMORY_MS) =>
        createReplayMemory({ store, clock: () => new Date(), keepMs, pruneEveryMs: 0 });
      const first = memory();
      expect(await first.seen('github:77:9:success')).toBe(false);
      expect(await first.seen('github:77:9:success')).toBe(true);
      expect(await memory().seen('github:77:9:success')).toBe(true);
      expect(await memory().seen('github:77:10:success')).toBe(false);
      expect((await store.list(DELIVERIES_PREFIX)).length).toBe(2);
      // Past the memory: both are forgotten, and the clean-up removes their markers.
      await new Promise((r) => setTimeout(r, 400));
      expect(await memory(300).seen('railway:d-1:success:t')).toBe(false);
      expect((await store.list(DELIVERIES_PREFIX)).length).toBe(1);
      expect(await memory(300).seen('github:77:9:success')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
