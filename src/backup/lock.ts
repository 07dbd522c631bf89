import type pg from 'pg';
import type { Target } from '../core/target.js';

/** Advisory lock keys: "db" and a job (advisory locks are per database, so each is per target). */
const LOCK_CLASS = 0x6462;
/** What each lock guards; its holder's application_name is "dbwarden <job>: <label>". */
const LOCK_KEYS = { backup: 1, drill: 2 } as const;
type LockedJob = keyof typeof LOCK_KEYS;

export interface HeldLock {
  /**
   * Run `fn` on the lock's own connection: the backup's snapshot session is this one, so a backup sets up one
   * connection (a backend start and SCRAM) where it took two. Queries queue on it; `fn` must finish before release.
   */
  withSession<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

/** A lock someone else holds: their label ("slack:U1 since …"), when the server tells. */
export interface BusyLock {
  busy: true;
  holder: string | null;
}

/**
 * Take the target's backup lock (a session advisory lock on a connection held until release), so two
 * dbwarden replicas never back up at once. When it is taken, says who holds it, if the server tells.
 */
export function tryBackupLock(target: Target, label: string): Promise<HeldLock | BusyLock> {
  return tryJobLock(target, 'backup', label);
}

/**
 * Take the target's drill lock: restore drills run one at a time across chat, the schedule, the CLI and replicas,
 * since every drill of a target wipes and restores into the same DBWARDEN_DRILL_URL. Taken on the target, which
 * every one of them reaches (the scratch database may not answer yet: that is the drill's own error to report).
 */
export function tryDrillLock(target: Target, label: string): Promise<HeldLock | BusyLock> {
  return tryJobLock(target, 'drill', label);
}

/** One job's advisory lock on the target, on a connection of its own held until release. */
async function tryJobLock(target: Target, job: LockedJob, label: string): Promise<HeldLock | BusyLock> {
  const key = LOCK_KEYS[job];
  const prefix = `dbwarden ${job}`;
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  return new Promise((resolve, reject) => {
    const session = target.withClient(async (client) => {
      // One round trip: the lock, and when it is ours the label that tells a second replica who holds it
      // (application_name is at most 63 bytes).
      const r = await client.query<{ ok: boolean }>(
        `SELECT ok, CASE WHEN ok THEN set_config('application_name', $3, false) END
           FROM (SELECT pg_try_advisory_lock($1, $2) AS ok) lock`,
        [LOCK_CLASS, key, `${prefix}: ${label}`.slice(0, 63)],
      );
      if (!r.rows[0]?.ok) {
        const h = await client.query<{ app: string }>(
          `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [LOCK_CLASS, key],
        );
        const app = h.rows[0]?.app ?? '';
        resolve({
          busy: true,
          holder: app.startsWith(`${prefix}:`) ? app.slice(prefix.length + 1).trim() : null,
        });
        return;
      }
      resolve({
        withSession: (fn) => fn(client),
        release: async () => {
          release();
          await session.catch(() => {});
        },
      });
      await released;
      await client.query(
        `SELECT pg_advisory_unlock($1, $2), set_config('application_name', 'dbwarden', false)`,
        [LOCK_CLASS, key],
      );
    });
    session.catch(reject);
  });
}
