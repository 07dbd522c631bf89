import pg from 'pg';
import { DbwardenError, TargetUnreachable, UsageError } from './errors.js';
import { libpqEnvOf, type ParsedUrl } from './libpq.js';
import { createRedactor, type Redactor } from './secrets.js';

/** What may be shown about a target: never its password. */
export interface TargetInfo {
  name: string;
  environment: string;
  /** Masked URL, e.g. postgres://app@db.internal:5432/railway */
  display: string;
  host: string;
  port: number;
  database: string;
  user: string;
}

export interface Target extends TargetInfo {
  /** libpq environment (PGHOST, PGPASSWORD…) for pg_dump and friends: secrets travel here, never in argv. */
  libpqEnv(): Record<string, string>;
  /** Run `fn` in a read-only transaction with a statement timeout; connection failures become TargetUnreachable. */
  readOnly<T>(fn: (client: pg.PoolClient) => Promise<T>, opts?: { statementTimeoutMs?: number }): Promise<T>;
  /** Run `fn` with a plain (writable) connection; for the few jobs that must write, like restores and locks. */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  redact: Redactor;
  close(): Promise<void>;
}

export interface TargetOptions {
  name?: string | null;
  environment: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

/** A URL that is not a usable postgres:// URL; the message says why and never repeats the URL (it may hold a password). */
export class InvalidPostgresUrl extends UsageError {}

// libpq allows an empty host before the path (postgres://app:pw@/db?host=/var/run/postgresql), WHATWG URL does not.
const EMPTY_HOST = /^(postgres(?:ql)?:\/\/[^/?#]*@)(?=[/?#]|$)/i;
const PLACEHOLDER_HOST = 'empty-host.invalid';

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InvalidPostgresUrl(
      `must not have a malformed %-escape in its ${what}: write a literal % as %25 (and percent-encode @ : / ? #)`,
    );
  }
}

/** Parse a postgres:// URL once, as libpq reads it; the only place that ever sees the password in clear. */
export function parsePostgresUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url.replace(EMPTY_HOST, `$1${PLACEHOLDER_HOST}`));
  } catch {
    // URL's own error carries the input (and with it the password): never pass it on.
    throw new InvalidPostgresUrl('must be a postgres:// URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new InvalidPostgresUrl('must start with postgres:// or postgresql://');
  const hostname = u.hostname === PLACEHOLDER_HOST ? '' : decode(u.hostname, 'host');
  const host = (u.searchParams.get('host') ?? hostname).replace(/^\[(.*)\]$/, '$1');
  if (host === '')
    throw new InvalidPostgresUrl('must name a host, or a socket directory as ?host=/var/run/postgresql');
  const portText = u.port || u.searchParams.get('port') || '5432';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) throw new InvalidPostgresUrl('must have a port from 1 to 65535');
  const user = decode(u.username, 'user name');
  return {
    host,
    port,
    database: decode(u.pathname.replace(/^\//, ''), 'database name') || user || 'postgres',
    user: user || 'postgres',
    password: u.password ? decode(u.password, 'password') : null,
    sslmode: u.searchParams.get('sslmode'),
  };
}

/**
 * postgres://user@host:port/db — the only form of a connection string dbwarden ever shows; a Unix socket
 * directory is shown the way libpq takes it, postgres://user@/db?host=/var/run/postgresql&port=5432.
 */
export function maskUrl(url: string): string {
  try {
    const p = parsePostgresUrl(url);
    const user = encodeURIComponent(p.user);
    const db = encodeURIComponent(p.database);
    if (p.host.startsWith('/')) return `postgres://${user}@/${db}?host=${encodeURI(p.host)}&port=${p.port}`;
    const host = p.host.includes(':') ? `[${p.host}]` : p.host;
    return `postgres://${user}@${host}:${p.port}/${db}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/**
 * A pg client that hangs up when connecting fails. node-postgres leaves the socket open after an authentication
 * error (a URL without a password against a SCRAM server): the server then holds it for its authentication_timeout
 * (60 s) and the process cannot exit, whatever DBWARDEN_CONNECT_TIMEOUT says.
 */
class HangUpClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: (err: Error | null, c?: pg.Client) => void): void;
  override connect(callback?: (err: Error | null, c?: pg.Client) => void): Promise<pg.Client> | undefined {
    const hangUp = (err: Error | null | undefined) => {
      if (err)
        (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    };
    if (callback) {
      super.connect((err: Error | null) => {
        hangUp(err);
        callback(err, this);
      });
      return undefined;
    }
    return super.connect().catch((err: Error) => {
      hangUp(err);
      throw err;
    });
  }
}

/** Build a target from its URL. Connections are lazy: nothing is contacted until a query runs. */
export function createTarget(url: string, opts: TargetOptions): Target {
  const p = parsePostgresUrl(url);
  const redact = createRedactor([p.password]);
  const pool = new pg.Pool({
    Client: HangUpClient,
    connectionString: url,
    max: 3,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    application_name: 'dbwarden',
    // A hung server must not hang us: the client gives up a little after the server-side timeout.
    query_timeout: opts.statementTimeoutMs + 5000,
  });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', () => {});

  const info: TargetInfo = {
    name: opts.name || p.database,
    environment: opts.environment,
    display: maskUrl(url),
    host: p.host,
    port: p.port,
    database: p.database,
    user: p.user,
  };

  // A checked-out client has no pool error listener: a server going away mid-use would crash the process.
  // The failure still reaches the caller through the query's rejection.
  const guarded = new WeakSet<pg.PoolClient>();
  async function connect(): Promise<pg.PoolClient> {
    try {
      const client = await pool.connect();
      if (!guarded.has(client)) {
        client.on('error', () => {});
        guarded.add(client);
      }
      return client;
    } catch (err) {
      throw classifyConnectError(err, info, redact);
    }
  }

  return {
    ...info,
    redact,
    libpqEnv() {
      return {
        ...libpqEnvOf(p),
        PGAPPNAME: 'dbwarden',
        PGCONNECT_TIMEOUT: String(Math.max(2, Math.ceil(opts.connectTimeoutMs / 1000))),
      };
    },
    async readOnly(fn, o) {
      const client = await connect();
      let broken = false;
      try {
        await client.query('BEGIN READ ONLY');
        await client.query(
          `SET LOCAL statement_timeout = ${Math.floor(o?.statementTimeoutMs ?? opts.statementTimeoutMs)}`,
        );
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw classifyQueryError(err, info, redact);
      } finally {
        client.release(broken);
      }
    },
    async withClient(fn) {
      const client = await connect();
      try {
        return await fn(client);
      } catch (err) {
        throw classifyQueryError(err, info, redact);
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end().catch(() => {});
    },
  };
}

function errCode(err: unknown): string {
  const e = err as { code?: string; errno?: string };
  return String(e?.code ?? e?.errno ?? '');
}

/** Turn a connection failure into one readable reason: DNS, refused, auth, timeout, missing database, TLS. */
export function classifyConnectError(err: unknown, t: TargetInfo, redact: Redactor): TargetUnreachable {
  const code = errCode(err);
  const raw = redact(err instanceof Error ? err.message : String(err));
  const where = `${t.host}:${t.port}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new TargetUnreachable(
      'dns',
      `Cannot resolve host ${t.host}`,
      'Check the host in DATABASE_URL; on a PaaS, private hostnames only resolve inside the project.',
    );
  if (code === 'ECONNREFUSED')
    return new TargetUnreachable(
      'refused',
      `Connection refused by ${where}`,
      'Is the database running, and is the port right?',
    );
  if (code === '28P01' || code === '28000')
    return new TargetUnreachable(
      'auth',
      `Authentication failed for user "${t.user}" on ${where}`,
      'Check the user and password in DATABASE_URL (was the password rotated?).',
    );
  // node-postgres' own words when the server asks for a password the URL does not have.
  if (
    /client password must be a string|password must be a (non-empty )?string|no password supplied/i.test(raw)
  )
    return new TargetUnreachable(
      'auth',
      `${where} asks for a password and DATABASE_URL has none for user "${t.user}"`,
      'Put the password in DATABASE_URL (postgres://user:password@host:port/db).',
    );
  if (code === '3D000')
    return new TargetUnreachable(
      'no-database',
      `Database "${t.database}" does not exist on ${where}`,
      'Was the database deleted or renamed? Restore the latest backup (dbwarden backups).',
    );
  if (code === 'ETIMEDOUT' || /timeout|timed out/i.test(raw))
    return new TargetUnreachable(
      'timeout',
      `No answer from ${where} within the connect timeout`,
      'The host may be down or firewalled; DBWARDEN_CONNECT_TIMEOUT sets how long to wait.',
    );
  if (/ssl|tls|certificate/i.test(raw))
    return new TargetUnreachable(
      'tls',
      `TLS problem connecting to ${where}: ${raw}`,
      'Check sslmode in DATABASE_URL.',
    );
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return new TargetUnreachable(
      'refused',
      `Host ${t.host} is unreachable`,
      'Check the network path to the database.',
    );
  return new TargetUnreachable('other', `Cannot connect to ${where}: ${raw}`);
}

/** Errors during a query: a lost connection is still "unreachable"; anything else passes on, redacted. */
function classifyQueryError(err: unknown, t: TargetInfo, redact: Redactor): Error {
  if (err instanceof TargetUnreachable) return err;
  const code = errCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (
    /Connection terminated|ECONNRESET|EPIPE|server closed the connection/i.test(message) ||
    code === '57P01' ||
    code === 'ECONNRESET'
  )
    return new TargetUnreachable('other', `Lost the connection to ${t.host}:${t.port}: ${redact(message)}`);
  // 57014 query_canceled (statement_timeout), 55P03 lock_not_available: the server answered, it was slow or busy.
  if (code === '57014' || code === '55P03')
    return new DbwardenError(
      'timeout',
      `${t.host}:${t.port} answered, but a query ${code === '55P03' ? 'waited too long for a table lock' : 'ran past the statement timeout'}`,
      'The database is overloaded or another session holds a lock (a migration or a long transaction; ' +
        'pg_stat_activity and pg_locks show which). DBWARDEN_STATEMENT_TIMEOUT sets how long dbwarden waits.',
    );
  if (err instanceof Error) {
    const safe = new Error(redact(message));
    (safe as Error & { code?: string }).code = code || undefined;
    return safe;
  }
  return new Error(redact(message));
}
