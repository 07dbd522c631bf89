import { describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.js';
import { backupServiceFor, tempStore } from './helpers/backup.js';
import { useTestCluster } from './helpers/cluster.js';

const db = useTestCluster();

describe('retention after each good backup', () => {
  it('keeps the policy’s backups and the newest, and deletes the rest with their dumps', async () => {
    await seedDemo(db.url);
    const { store } = tempStore();
    let now = new Date('2026-11-01T03:00:00Z');
    const { service, target, log } = backupServiceFor(
      db.url,
      store,
      { DBWARDEN_KEEP_DAILY: '2', DBWARDEN_KEEP_WEEKLY: '0', DBWARDEN_KEEP_MONTHLY: '0' },
      { clock: () => now },
    );
    try {
      const ids: string[] = [];
      for (let day = 0; day < 4; day++) {
        now = new Date(Date.UTC(2026, 10, 1 + day, 3));
        ids.push((await service.run({ requestedBy: 'test' })).id);
      }
      const kept = (await service.list()).map((m) => m.id);
      // Two daily backups are kept: the two newest days.
      expect(kept).toEqual([ids[3], ids[2]]);
      const keys = (await store.list('backups/')).map((b) => b.key);
      for (const gone of ids.slice(0, 2)) expect(keys.some((k) => k.includes(gone!))).toBe(false);
      for (const left of ids.slice(2)) expect(keys).toContain(`backups/${left}.dump`);
      expect(log.text()).toContain('retention removed old backups');
    } finally {
      await target.close();
    }
  });
});
