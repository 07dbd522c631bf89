import type { BackupManifest } from '../store/manifest.js';

/** Where a running backup is; adapters turn it into a progress bar. */
export interface BackupProgress {
  phase: 'starting' | 'dumping' | 'verifying' | 'publishing' | 'done';
  /** Dump bytes written so far. */
  bytes: number;
  elapsedMs: number;
  /** The previous good backup's size: the basis of a progress fraction and an ETA; null when there is none. */
  expectedBytes: number | null;
}

export interface BackupRequest {
  /** "schedule", "cli", "slack:U123", "discord:123", "preflight", "deploy". */
  requestedBy: string;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
}

/** The backup running now, if any: a second request is told who started it. */
export interface RunningBackup {
  requestedBy: string;
  startedAt: Date;
}

/**
 * Takes, lists and trusts backups of one target. `run` resolves with the manifest of a complete, verified
 * backup and rejects with BackupFailed (after recording a failed manifest); only one runs at a time.
 */
export interface BackupService {
  run(req: BackupRequest): Promise<BackupManifest>;
  running(): RunningBackup | null;
  /** Every manifest, newest first (good and failed). */
  list(): Promise<BackupManifest[]>;
  /** The newest good (complete and verified) backup of this database (catalog newestGood), or null. */
  latestGood(): Promise<BackupManifest | null>;
}
