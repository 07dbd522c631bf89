import type { Target } from '../core/target.js';

/** Advisory lock keys: "db" and 1, the backup of this database (advisory locks are per database). */
const LOCK_CLASS = 0x6462;
const LOCK_BACKUP = 1;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Take the target's backup lock (a session advisory lock on a connection held until release), so two
 * dbwarden replicas never back up at once. When it is taken, says who holds it, if the server tells.
 */
export async function tryBackupLock(
  target: Target,
  label: string,
): Promise<HeldLock | { busy: true; holder: string | null }> {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  return new Promise((resolve, reject) => {
    const session = target.withClient(async (client) => {
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
        LOCK_CLASS,
        LOCK_BACKUP,
      ]);
      if (!r.rows[0]?.ok) {
        const h = await client.query<{ app: string }>(
          `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [LOCK_CLASS, LOCK_BACKUP],
        );
        const app = h.rows[0]?.app ?? '';
        resolve({
          busy: true,
          holder: app.startsWith('dbwarden backup') ? app.replace(/^dbwarden backup:?\s*/, '') : null,
        });
        return;
      }
      // The label tells a second replica who holds the lock (application_name is at most 63 bytes).
      await client.query(`SELECT set_config('application_name', $1, false)`, [
        `dbwarden backup: ${label}`.slice(0, 63),
      ]);
      resolve({
        release: async () => {
          release();
          await session.catch(() => {});
        },
      });
      await released;
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, LOCK_BACKUP]);
      await client.query(`SELECT set_config('application_name', 'dbwarden', false)`);
    });
    session.catch(reject);
  });
}
