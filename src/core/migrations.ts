import type pg from 'pg';

/** Migration state as the app's framework records it in its own table. */
export interface MigrationsState {
  framework: 'django' | 'rails' | 'prisma' | 'alembic' | 'knex';
  table: string;
  applied: number;
  /** The newest applied migration's name (Django: "app.0007_name"). */
  latest: string | null;
  latestAppliedAt: string | null;
  /** Migrations the framework recorded as failed or unfinished (Prisma). */
  failed: number;
}

interface Detector {
  framework: MigrationsState['framework'];
  table: string;
  query: string;
}

// Order matters: an app has one framework, but Rails-style schema_migrations also appears in other stacks.
const DETECTORS: Detector[] = [
  {
    framework: 'django',
    table: 'django_migrations',
    query: `SELECT count(*)::int AS applied, (SELECT app || '.' || name FROM django_migrations ORDER BY applied DESC, id DESC LIMIT 1) AS latest,
            max(applied) AS latest_at, 0 AS failed FROM django_migrations`,
  },
  {
    framework: 'prisma',
    table: '_prisma_migrations',
    query: `SELECT count(*) FILTER (WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL)::int AS applied,
            (SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY finished_at DESC LIMIT 1) AS latest,
            max(finished_at) AS latest_at,
            count(*) FILTER (WHERE finished_at IS NULL AND rolled_back_at IS NULL)::int AS failed FROM _prisma_migrations`,
  },
  {
    framework: 'knex',
    table: 'knex_migrations',
    query: `SELECT count(*)::int AS applied, (SELECT name FROM knex_migrations ORDER BY id DESC LIMIT 1) AS latest,
            max(migration_time) AS latest_at, 0 AS failed FROM knex_migrations`,
  },
  {
    framework: 'alembic',
    table: 'alembic_version',
    query: `SELECT count(*)::int AS applied, max(version_num) AS latest, NULL AS latest_at, 0 AS failed FROM alembic_version`,
  },
  {
    framework: 'rails',
    table: 'schema_migrations',
    query: `SELECT count(*)::int AS applied, max(version)::text AS latest, NULL AS latest_at, 0 AS failed FROM schema_migrations`,
  },
];

/** Find the first framework whose migrations table exists (on the search path) and read its state. */
export async function detectMigrations(client: pg.ClientBase): Promise<MigrationsState | null> {
  const present = await client.query<{ t: string }>(
    `SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL`,
    [DETECTORS.map((d) => d.table)],
  );
  const found = new Set(present.rows.map((r) => r.t));
  for (const d of DETECTORS) {
    if (!found.has(d.table)) continue;
    await client.query('SAVEPOINT dbwarden_migrations');
    try {
      const r = await client.query<{
        applied: number;
        latest: string | null;
        latest_at: Date | null;
        failed: number;
      }>(d.query);
      await client.query('RELEASE SAVEPOINT dbwarden_migrations');
      const row = r.rows[0]!;
      return {
        framework: d.framework,
        table: d.table,
        applied: row.applied,
        latest: row.latest,
        latestAppliedAt: row.latest_at ? new Date(row.latest_at).toISOString() : null,
        failed: row.failed,
      };
    } catch {
      // A table by that name with another shape is not this framework's: try the next one.
      await client.query('ROLLBACK TO SAVEPOINT dbwarden_migrations');
    }
  }
  return null;
}
