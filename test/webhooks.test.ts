import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createReplayGuard, readDeployWebhook } from '../src/deploy/webhooks.js';

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
        deliveryId: 'uuid-1',
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

  it('remembers deliveries so a replay runs nothing', () => {
    const guard = createReplayGuard(2);
    expect(guard.seen('a')).toBe(false);
    expect(guard.seen('a')).toBe(true);
    guard.seen('b');
    guard.seen('c');
    expect(guard.seen('a')).toBe(false); // evicted: only the most recent deliveries are kept
  });
});
