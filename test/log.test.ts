import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/log.js';
import { createRedactor } from '../src/core/secrets.js';

// Built at run time so no token-shaped literal sits in the repository.
const SLACK_TOKEN = ['xoxb', '1234567890', 'abcdefghij'].join('-');

describe('logger', () => {
  it('writes JSON lines with level and time, and redacts secrets wherever they appear', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const logger = createLogger({
      level: 'info',
      redact: createRedactor(['pa55-w0rd-xyz', 'sig-secret-abcdef']),
      destination: out,
    });
    logger.info(
      { job: 'backup-1', url: 'postgres://app:pa55-w0rd-xyz@db.internal:5432/railway' },
      'connecting',
    );
    logger.warn({ headers: { authorization: 'Bearer abc.def.ghi' } }, 'webhook');
    logger.error(new Error(`auth failed with pa55-w0rd-xyz and ${SLACK_TOKEN}`), 'boom');
    logger.info(
      { token: 'anything-at-all', nested: { password: 'hunter2hunter2' } },
      'sig-secret-abcdef in a message',
    );
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'connecting',
      job: 'backup-1',
      url: 'postgres://app:***@db.internal:5432/railway',
      time: expect.any(String),
    });
    expect(lines[1].headers.authorization).toBe('***');
    for (const secret of [
      'pa55-w0rd-xyz',
      SLACK_TOKEN,
      'Bearer abc',
      'anything-at-all',
      'hunter2hunter2',
      'sig-secret-abcdef',
    ])
      expect(text).not.toContain(secret);
  });
});
