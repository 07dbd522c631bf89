type Gc = (opts: { type: 'minor' | 'major'; execution?: 'sync'; flavor?: 'last-resort' }) => void;

let found: Gc | null | undefined;

/**
 * V8's own `gc`, without starting node with --expose-gc: the flag is set only while one fresh context is created to
 * hand the function out, then cleared, so no other context sees a `gc` global. null where the engine refuses.
 */
function engineGc(): Gc | null {
  if (found !== undefined) return found;
  const own = (globalThis as { gc?: Gc }).gc;
  if (typeof own === 'function') {
    found = own;
    return found;
  }
  // Node's v8 and vm modules are loaded here, when a stream first needs a collection, not with the backup code:
  // compiling them costs ~5 ms of every verb's start-up.
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  const { runInNewContext } = process.getBuiltinModule('node:vm');
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    found = typeof gc === 'function' ? (gc as Gc) : null;
  } catch {
    found = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return found;
}

/**
 * Bytes of a stream through node between two young collections: every chunk (a pipe read, a file read) is a fresh
 * buffer that only a collection frees. On the benchmark's 62 MB dump this took the peak RSS of `verify` from 102 to
 * 69 MB, and of an encrypted backup (then collected at this rate too) from 123 to 89 MB.
 */
export const STREAM_COLLECT_BYTES = 512 * 1024;

/**
 * The same for an encrypted backup's stream, which makes three fresh buffers of each 64 KiB (pg_dump's pipe read, the
 * age chunk, its write): every 256 KiB took its peak RSS from 77.7 to 75.9 MB on the benchmark database for no wall
 * time we could measure (20 ms of 6.4 s, within the spread). A re-read (verify, a drill) gains nothing from it.
 */
export const SEALED_COLLECT_BYTES = 256 * 1024;

/**
 * A young-generation collection after every `bytes` of short-lived buffers passed through a stream. Each chunk of a
 * stream that passes through node (a pipe read, an age ciphertext chunk) is a fresh buffer outside V8's heap, freed
 * only when a collection finds it dead; V8 starts one for them only once 32 MB of such buffers are young (a constant,
 * not a flag), and the small objects of a stream fill the young generation slowly, so a fast stream keeps ~30 MB of
 * dead buffers — and the allocator keeps that memory afterwards. A minor collection with little alive costs well
 * under a millisecond; one every few MB keeps what is dead to a few MB. Returns what to call with each chunk's size.
 */
export function collectEvery(bytes: number): (chunk: number) => void {
  const gc = engineGc();
  if (!gc) return () => {};
  let since = 0;
  return (chunk) => {
    since += chunk;
    if (since < bytes) return;
    since = 0;
    gc({ type: 'minor' });
  };
}

/**
 * One memory-reducing full collection (V8's "last resort" flavour): besides what is dead, it gives back the young
 * generation's grown semi-spaces. Start-up and loading a library (the age library) grow them to 8 MB; a stream
 * that then allocates a chunk after another touches every page of them, collected or not, so they stay resident for
 * the whole backup. Called once before such a stream starts: ~4 MB less peak RSS for an encrypted backup, for a
 * pause of tens of milliseconds while pg_dump is still reading the catalog and has written nothing yet.
 */
export function shrinkHeap(): void {
  engineGc()?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
