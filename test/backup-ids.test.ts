import { describe, expect, it } from 'vitest';
import type { DbwardenError } from '../src/core/errors.js';
import { resolveBackupRef } from '../src/store/catalog.js';

const ids = ['20261202T030000.000Z-a1b2c3', '20261201T030000.000Z-a1ff00', '20261130T030000.000Z-0b9e77'];
const where = { location: '/data', identityKnown: true };
const resolve = (ref: string, newest: string | null = ids[1]!) => resolveBackupRef(ref, ids, newest, where);
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return {
      code: (err as DbwardenError).code,
      message: (err as Error).message,
      hint: (err as DbwardenError).hint,
    };
  }
  throw new Error('expected an error');
};

describe('what a person may type for a backup id', () => {
  it('`latest` is the newest good backup (not the newest attempt), whatever its case', () => {
    expect(resolve('latest')).toBe(ids[1]);
    expect(resolve(' LATEST ')).toBe(ids[1]);
  });

  it('a whole id, a unique prefix, or a unique start of the last characters', () => {
    expect(resolve(ids[2]!)).toBe(ids[2]);
    expect(resolve('20261130')).toBe(ids[2]);
    expect(resolve('a1b')).toBe(ids[0]);
    expect(resolve('0b9E77'.toLowerCase())).toBe(ids[2]);
  });

  it('an ambiguous prefix lists the candidates; an unknown one says what can be typed', () => {
    expect(codeOf(() => resolve('a1'))).toMatchObject({
      code: 'backup-ambiguous',
      message: expect.stringContaining(`${ids[0]}, ${ids[1]}`),
    });
    expect(codeOf(() => resolve('2026'))).toMatchObject({ code: 'backup-ambiguous' });
    expect(codeOf(() => resolve('zz'))).toMatchObject({
      code: 'backup-not-found',
      hint: expect.stringContaining('`latest`'),
    });
    expect(codeOf(() => resolve(''))).toMatchObject({ code: 'backup-not-found' });
  });

  it('`latest` with no good backup, or a database nobody can identify, is a clear refusal', () => {
    expect(codeOf(() => resolve('latest', null))).toMatchObject({
      code: 'backup-not-found',
      hint: expect.stringContaining('dbwarden backup'),
    });
    expect(
      codeOf(() => resolveBackupRef('latest', ids, null, { location: '/data', identityKnown: false }))
        .message,
    ).toContain('does not answer');
    // The last attempt failed: why, and its fix, rather than "take one" (which would fail the same way).
    const lastFailed = {
      id: ids[0]!,
      message: 'pg_dump 15.18 cannot back up PostgreSQL 18.4: it must be version 18 or newer',
      hint: 'Install postgresql-client-18, or set PG_DUMP to a pg_dump 18+ binary.',
    };
    expect(
      codeOf(() =>
        resolveBackupRef('latest', ids, null, { location: '/data', identityKnown: true, lastFailed }),
      ),
    ).toMatchObject({
      code: 'backup-not-found',
      message: `No good backup of this database in /data yet, so there is no "latest": the last attempt (${ids[0]}) failed: ${lastFailed.message}`,
      hint: lastFailed.hint,
    });
  });
});
