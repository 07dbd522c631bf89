import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextRunAfter } from '../src/core/cron.js';
import { createTarget, type Target } from '../src/core/target.js';
import { seedDemo } from '../src/demo/seed.js';
import { buildServices } from '../src/main.js';
import { createScheduler, RUNS_PREFIX, readRunMarker } from '../src/serve/schedule.js';
import { scheduledJobs } from '../src/serve/scheduled-jobs.js';
import { createFileStore } from '../src/store/file-store.js';
import { useTestCluster } from './helpers/cluster.js';
import { manifest, writeManifests } from './helpers/fixtures.js';

const db = useTestCluster();
const dirs: string[] = [];
const targets: Target[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'dbwarden-sched-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const t of targets) await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
beforeAll(async () => {
  await seedDemo(db.url);
});
const target = (url = db.url) => {
  const t = createTarget(url, { environment: 'test', connectTimeoutMs: 1000, statementTimeoutMs: 5000 });
  targets.push(t);
  return t;
};

describe('cron in a time zone', () => {
  it('fires at local wall-clock time, across a DST-free and a DST zone', () => {
    const from = new Date('2026-11-24T00:30:00.000Z');
    expect(nextRunAfter('0 9 * * *', 'Asia/Tokyo', from)?.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(nextRunAfter('0 9 * * *', 'America/New_York', from)?.toISOString()).toBe(
      '2026-11-24T14:00:00.000Z',
    );
    expect(nextRunAfter('0 3 * * *', 'UTC', from)?.toISOString()).toBe('2026-11-24T03:00:00.000Z');
    // Summer time in Berlin: 03:00 local is 01:00 UTC.
    expect(nextRunAfter('0 3 * * *', 'Europe/Berlin', new Date('2026-07-01T12:00:00Z'))?.toISOString()).toBe(
      '2026-07-02T01:00:00.000Z',
    );
  });

  it('really runs a job on node-cron’s timer, in a non-UTC zone, with the slot as the tick', async () => {
    const store = createFileStore(tempDir());
    const ticks: Date[] = [];
    const s = createScheduler([{ name: 'beat', cron: '* * * * * *', run: async (t) => void ticks.push(t) }], {
      store,
      target: target(),
      timezone: 'Asia/Kolkata',
      clock: () => new Date(),
    });
    s.start();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (ticks.length >= 2) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
    });
    await s.stop();
    for (const t of ticks) expect(t.getUTCMilliseconds()).toBe(0);
    const id = ticks[0]!.toISOString().replace(/[-:.]/g, '');
    expect(await readRunMarker(store, 'beat', id)).toMatchObject({ by: s.instanceId, state: 'done' });
  });
});

describe('one runner per tick', () => {
  it('two schedulers sharing a store and a database: every tick runs exactly once', async () => {
    const store = createFileStore(tempDir());
    const runs = new Map<string, string[]>();
    const make = (name: string) =>
      createScheduler(
        [
          {
            name: 'digest',
            cron: '* * * * * *',
            run: async (tick) => {
              const k = tick.toISOString();
              runs.set(k, [...(runs.get(k) ?? []), name]);
              await new Promise((r) => setTimeout(r, 30));
            },
          },
        ],
        { store, target: target(), timezone: 'Europe/Berlin', clock: () => new Date(), instanceId: name },
      );
    const a = make('a');
    const b = make('b');
    a.start();
    b.start();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (runs.size >= 4) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
    });
    await Promise.all([a.stop(), b.stop()]);
    for (const [, by] of runs) expect(by).toHaveLength(1);
    const markers = (await store.list(`${RUNS_PREFIX}digest/`)).length;
    expect(markers).toBeGreaterThanOrEqual(runs.size);
  });

  it('with the database down, a lease in the store elects one runner', async () => {
    const store = createFileStore(tempDir());
    const down = target('postgres://nobody:pw@127.0.0.1:1/none');
    let runs = 0;
    const make = (id: string) =>
      createScheduler([{ name: 'watch', cron: '*/5 * * * *', run: async () => void runs++ }], {
        store,
        target: down,
        timezone: 'UTC',
        clock: () => new Date('2026-11-24T03:00:00Z'),
        instanceId: id,
        settleMs: 200,
      });
    const tick = new Date('2026-11-24T03:00:00Z');
    const [ra, rb, rc] = await Promise.all([
      make('a').runTick('watch', tick),
      make('b').runTick('watch', tick),
      make('c').runTick('watch', tick),
    ]);
    expect([ra, rb, rc].sort()).toEqual(['elsewhere', 'elsewhere', 'ran']);
    expect(runs).toBe(1);
    expect(await make('d').runTick('watch', tick)).toBe('elsewhere');
    expect(await make('a').runTick('watch', new Date('2026-11-24T03:05:00Z'))).toBe('ran');
  });

  it('a job never overlaps itself', async () => {
    const store = createFileStore(tempDir());
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const s = createScheduler([{ name: 'backup', cron: '0 3 * * *', run: () => gate }], {
      store,
      target: target(),
      timezone: 'UTC',
      clock: () => new Date(),
    });
    const first = s.runTick('backup', new Date('2026-11-24T03:00:00Z'));
    await new Promise((r) => setTimeout(r, 100));
    expect(await s.runTick('backup', new Date('2026-11-25T03:00:00Z'))).toBe('overlap');
    release();
    expect(await first).toBe('ran');
  });

  it('two `serve` replicas on one store post one digest per tick', async () => {
    const dir = tempDir();
    await writeManifests(createFileStore(dir), [
      manifest({ id: 'm1', startedAt: new Date(Date.now() - 3_600_000).toISOString() }),
    ]);
    const env = {
      DATABASE_URL: db.url,
      DBWARDEN_STORE: dir,
      DBWARDEN_ENV: 'staging',
      DBWARDEN_TIMEZONE: 'Europe/Berlin',
      LOG_LEVEL: 'silent',
    };
    let channel = '';
    const out = new PassThrough();
    out.on('data', (c) => {
      channel += c;
    });
    const replicas = await Promise.all([
      buildServices({ env, consoleOutput: out }),
      buildServices({ env, consoleOutput: out }),
    ]);
    try {
      const schedulers = replicas.map((s, i) =>
        createScheduler(scheduledJobs(s), {
          store: s.store,
          target: s.target,
          timezone: s.config.timezone,
          clock: s.clock,
          instanceId: `replica-${i}`,
        }),
      );
      const tick = new Date('2026-11-24T08:00:00Z'); // 09:00 in Berlin
      const outcomes = await Promise.all(schedulers.map((s) => s.runTick('digest', tick)));
      expect(outcomes.sort()).toEqual(['elsewhere', 'ran']);
      const again = await Promise.all(schedulers.map((s) => s.runTick('digest', tick)));
      expect(again).toEqual(['elsewhere', 'elsewhere']);
      expect(channel.match(/Daily digest: app/g)).toHaveLength(1);
      await Promise.all(schedulers.map((s) => s.runTick('digest', new Date('2026-11-25T08:00:00Z'))));
      expect(channel.match(/Daily digest: app/g)).toHaveLength(2);
    } finally {
      for (const s of replicas) await s.close();
    }
  });
});
