import type { BlobStore } from './blob-store.js';
import { StoreError } from './s3-errors.js';

/** How long one store call may take before dbwarden says the store does not answer. */
export const STORE_ANSWER_MS = 10_000;

/** `work`, or a StoreError saying the store does not answer once `ms` have passed. */
export function answerWithin<T>(work: Promise<T>, location: string, ms = STORE_ANSWER_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreError(
            'store-unreachable',
            `The store ${location} does not answer (nothing within ${Math.round(ms / 1000)} s).`,
            'Check that the S3 endpoint (S3_ENDPOINT) is up and reachable, or that the disk is mounted.',
          ),
        ),
      ms,
    );
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * The store with every short call bounded (stat, list, delete, opening a read, small writes), so status, the guard
 * and the schedule answer within seconds when an endpoint accepts connections and never replies. Streaming writes
 * and dumps written in place (putFile) and reading a stream's body are not bounded here: the backup's own timeout covers them.
 */
export function boundedStore(store: BlobStore, ms = STORE_ANSWER_MS): BlobStore {
  const within = <T>(p: Promise<T>) => answerWithin(p, store.location, ms);
  const bounded: BlobStore = {
    location: store.location,
    put: (key, body, opts) =>
      typeof body === 'string' || Buffer.isBuffer(body)
        ? within(store.put(key, body, opts))
        : store.put(key, body, opts),
    get: (key) => within(store.get(key)),
    stat: (key) => within(store.stat(key)),
    list: (prefix) => within(store.list(prefix)),
    delete: (key) => within(store.delete(key)),
  };
  const { listUnfinished, move, putFile } = store;
  // A dump written in place runs as long as pg_dump does: the backup's timeout bounds it.
  if (putFile) bounded.putFile = (key, fill, opts) => putFile.call(store, key, fill, opts);
  if (listUnfinished) bounded.listUnfinished = (prefix) => within(listUnfinished.call(store, prefix));
  if (move) bounded.move = (from, to) => move.call(store, from, to);
  if (store.close) bounded.close = () => store.close?.();
  return bounded;
}
