import type pg from 'pg';

/** Which database this is. A recreated database keeps its name but gets a new oid (and a new cluster a new system id). */
export interface DbIdentity {
  /** pg_control_system().system_identifier as text; null when the role may not read it. */
  systemIdentifier: string | null;
  databaseOid: number;
  databaseName: string;
}

/** Read the identity inside an open transaction; tolerates roles that may not call pg_control_system(). */
export async function readIdentity(client: pg.ClientBase): Promise<DbIdentity> {
  const db = await client.query<{ oid: string; datname: string }>(
    'SELECT oid::text AS oid, datname FROM pg_database WHERE datname = current_database()',
  );
  let systemIdentifier: string | null = null;
  await client.query('SAVEPOINT dbwarden_identity');
  try {
    const sys = await client.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    systemIdentifier = sys.rows[0]?.id ?? null;
    await client.query('RELEASE SAVEPOINT dbwarden_identity');
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT dbwarden_identity');
  }
  const row = db.rows[0]!;
  return { systemIdentifier, databaseOid: Number(row.oid), databaseName: row.datname };
}

/** Same database? Compares the system identifier only when both sides know it. */
export function sameIdentity(a: DbIdentity, b: DbIdentity): boolean {
  if (a.databaseOid !== b.databaseOid || a.databaseName !== b.databaseName) return false;
  if (a.systemIdentifier && b.systemIdentifier) return a.systemIdentifier === b.systemIdentifier;
  return true;
}

/** A short, stable fingerprint for messages: "7301…9924/16384". */
export function identityLabel(id: DbIdentity): string {
  const sys = id.systemIdentifier
    ? `${id.systemIdentifier.slice(0, 4)}…${id.systemIdentifier.slice(-4)}`
    : 'unknown';
  return `${sys}/${id.databaseOid}`;
}
