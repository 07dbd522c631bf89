import { asDbwardenError } from '../core/errors.js';
import type { Target } from '../core/target.js';
import type { BlobStore } from '../store/blob-store.js';

/** A chat connection as readiness sees it: Slack's socket, Discord's gateway. */
export interface ChatLink {
  name: string;
  connected(): boolean;
}

export interface Check {
  ok: boolean;
  detail: string;
}

/** The body of /readyz: every dependency named, so an operator sees at once which one is down. */
export interface Readiness {
  ready: boolean;
  checks: { database: Check; store: Check; chat: Check };
  /** Names of the failing checks. */
  failing: string[];
}

export interface ReadinessDeps {
  target: Target;
  store: BlobStore;
  chats: () => ChatLink[];
  /** Longest each check may take before it counts as failed. */
  timeoutMs: number;
  /** Set once shutdown begins: load balancers drain us. */
  stopping?: () => boolean;
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function check(ms: number, what: string, fn: () => Promise<string>): Promise<Check> {
  try {
    return { ok: true, detail: await within(ms, what, fn()) };
  } catch (err) {
    return { ok: false, detail: asDbwardenError(err).message };
  }
}

/** Probe the database, write and delete a small object in the store, and ask each chat if it is connected. */
export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const probeKey = `state/ready-probe-${process.pid}`;
  const [database, store] = await Promise.all([
    check(deps.timeoutMs, 'the database', async () => {
      await deps.target.readOnly((c) => c.query('SELECT 1'), { statementTimeoutMs: deps.timeoutMs });
      return `reachable: ${deps.target.display}`;
    }),
    check(deps.timeoutMs, 'the store', async () => {
      await deps.store.put(probeKey, new Date().toISOString());
      await deps.store.delete(probeKey);
      return `writable: ${deps.store.location}`;
    }),
  ]);
  const links = deps.chats();
  const down = links.filter((l) => !l.connected()).map((l) => l.name);
  const chat: Check =
    links.length === 0
      ? { ok: true, detail: 'no chat configured: reports go to the log' }
      : down.length > 0
        ? { ok: false, detail: `not connected: ${down.join(', ')}` }
        : { ok: true, detail: `connected: ${links.map((l) => l.name).join(', ')}` };
  const checks = { database, store, chat };
  const failing = Object.entries(checks)
    .filter(([, c]) => !c.ok)
    .map(([name]) => name);
  if (deps.stopping?.()) failing.push('shutting-down');
  return { ready: failing.length === 0, checks, failing };
}
