import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BackupMetrics } from '../backup/backup-service.js';
import type { DbStatus } from '../core/status.js';
import type { BackupManifest } from '../store/manifest.js';

/** Prometheus metrics for /metrics. One registry per `serve` process, built in serve/start.ts. */
export interface Metrics extends BackupMetrics {
  registry: Registry;
  /** The newest good backup as found in the store (after a restart): last-success gauges, no count. */
  lastGoodBackup(manifest: BackupManifest | null): void;
  statusProbed(status: DbStatus): void;
  openWarnings(codes: string[]): void;
  commandAnswered(platform: string, command: string, seconds: number): void;
}

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'dbwarden_process_' });
  const backups = new Counter({
    name: 'dbwarden_backups_total',
    help: 'Backups by result',
    labelNames: ['result'],
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: 'dbwarden_backup_last_success_timestamp_seconds',
    help: 'When the newest good backup finished',
    registers: [registry],
  });
  const lastSize = new Gauge({
    name: 'dbwarden_backup_last_size_bytes',
    help: 'Size of the newest good backup',
    registers: [registry],
  });
  const lastDuration = new Gauge({
    name: 'dbwarden_backup_last_duration_seconds',
    help: 'Duration of the newest good backup',
    registers: [registry],
  });
  const reachable = new Gauge({
    name: 'dbwarden_database_reachable',
    help: '1 when the last check reached the database',
    registers: [registry],
  });
  const size = new Gauge({
    name: 'dbwarden_database_size_bytes',
    help: 'Database size at the last check',
    registers: [registry],
  });
  const rows = new Gauge({
    name: 'dbwarden_watched_table_rows',
    help: 'Rows of each watched table at the last check',
    labelNames: ['table'],
    registers: [registry],
  });
  const warnings = new Gauge({
    name: 'dbwarden_open_warnings',
    help: 'Open warnings by code',
    labelNames: ['code'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'dbwarden_command_duration_seconds',
    help: 'Time to answer a chat command, by platform and command',
    labelNames: ['platform', 'command'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  for (const result of ['success', 'failure']) backups.inc({ result }, 0);

  return {
    registry,
    backupFinished(result, manifest) {
      backups.inc({ result });
      if (result === 'success' && manifest) {
        lastSuccess.set(Date.parse(manifest.finishedAt) / 1000);
        lastSize.set(manifest.sizeBytes);
        lastDuration.set(manifest.durationMs / 1000);
      }
    },
    lastGoodBackup(manifest) {
      if (!manifest) return;
      lastSuccess.set(Date.parse(manifest.finishedAt) / 1000);
      lastSize.set(manifest.sizeBytes);
      lastDuration.set(manifest.durationMs / 1000);
    },
    statusProbed(s) {
      reachable.set(s.reachable ? 1 : 0);
      if (!s.reachable) return;
      size.set(s.sizeBytes ?? 0);
      rows.reset();
      for (const t of s.tables) if (t.watched) rows.set({ table: `${t.schema}.${t.name}` }, t.rows);
    },
    openWarnings(codes) {
      warnings.reset();
      const counts = new Map<string, number>();
      for (const c of codes) counts.set(c, (counts.get(c) ?? 0) + 1);
      for (const [code, n] of counts) warnings.set({ code }, n);
    },
    commandAnswered(platform, command, seconds) {
      latency.observe({ platform, command }, seconds);
    },
  };
}
