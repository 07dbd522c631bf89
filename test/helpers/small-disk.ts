import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real, small filesystem (tmpfs) that a test can fill up and free again: ENOSPC from the kernel, not a fake. */
export interface SmallDisk {
  /** A directory on it for the store. */
  store: string;
  /** Fill every free byte (writes return ENOSPC afterwards). */
  fill(): void;
  /** Free the space fill() took. */
  free(): void;
  unmount(): void;
}

/** Mount a tmpfs of `sizeKb`; null where mounting is refused (not root, no CAP_SYS_ADMIN): tests then skip. */
export function mountSmallDisk(sizeKb = 2048): SmallDisk | null {
  const dir = mkdtempSync(join(tmpdir(), 'dbwarden-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  const store = join(dir, 'store');
  mkdirSync(store);
  const filler = join(dir, 'filler');
  return {
    store,
    fill() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      // The last partial chunk may leave a few bytes: fill them too.
      const fd2 = openSync(filler, 'a');
      try {
        for (;;) writeSync(fd2, Buffer.alloc(512));
      } catch {
        // full
      } finally {
        closeSync(fd2);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Whether this machine lets the tests mount a tmpfs (root with CAP_SYS_ADMIN): tests that need one skip otherwise. */
export function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const disk = mountSmallDisk(1024);
  disk?.unmount();
  return disk !== null;
}
