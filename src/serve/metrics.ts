import type { BackupMetrics } from '../backup/backup-service.js';
import type { DbStatus } from '../core/status.js';
import type { BackupManifest } from '../store/manifest.js';

/**
 * Prometheus metrics for /metrics. One per `serve` process, built in serve/start.ts. The figures live here as plain
 * numbers; prom-client (its registry, the text format and the process metrics) is loaded at the first scrape, so a
 * team that never scrapes does not carry it (~30 modules of an idle serve's memory).
 */
export interface Metrics extends BackupMetrics {
  /** The Prometheus text exposition of every metric, and its content type. */
  exposition(): Promise<{ contentType: string; text: string }>;
  /** The newest good backup as found in the store (after a restart): last-success gauges, no count. */
  lastGoodBackup(manifest: BackupManifest | null): void;
  statusProbed(status: DbStatus): void;
  openWarnings(codes: string[]): void;
  commandAnswered(platform: string, command: string, seconds: number): void;
}

type Labels = Record<string, string>;
interface Sample {
  value: number;
  labels?: Labels;
  metricName?: string;
}
/** What prom-client's registry asks of a metric: its name, help, type and current samples. */
interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

interface Latency {
  platform: string;
  command: string;
  /** Cumulative counts per bucket of LATENCY_BUCKETS (le), as Prometheus histograms are. */
  buckets: number[];
  sum: number;
  count: number;
}

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const backups = { success: 0, failure: 0 };
  let last: { at: number; size: number; duration: number } | null = null;
  let reachable: number | null = null;
  let dbSize: number | null = null;
  let rows = new Map<string, number>();
  let warnings = new Map<string, number>();
  const latency = new Map<string, Latency>();

  const gauge =
    (name: string, help: string, value: () => number | null): (() => Collected) =>
    () => {
      const v = value();
      return { name, help, type: 'gauge', aggregator: 'sum', values: v === null ? [] : [{ value: v }] };
    };
  const labelled = (name: string, help: string, label: string, m: () => Map<string, number>) => () =>
    ({
      name,
      help,
      type: 'gauge',
      aggregator: 'sum',
      values: [...m()].map(([k, value]) => ({ value, labels: { [label]: k } })),
    }) satisfies Collected;
  const collectors: (() => Collected)[] = [
    () => ({
      name: 'dbwarden_backups_total',
      help: 'Backups by result',
      type: 'counter',
      aggregator: 'sum',
      values: Object.entries(backups).map(([result, value]) => ({ value, labels: { result } })),
    }),
    gauge(
      'dbwarden_backup_last_success_timestamp_seconds',
      'When the newest good backup finished',
      () => last?.at ?? null,
    ),
    gauge('dbwarden_backup_last_size_bytes', 'Size of the newest good backup', () => last?.size ?? null),
    gauge(
      'dbwarden_backup_last_duration_seconds',
      'Duration of the newest good backup',
      () => last?.duration ?? null,
    ),
    gauge('dbwarden_database_reachable', '1 when the last check reached the database', () => reachable),
    gauge('dbwarden_database_size_bytes', 'Database size at the last check', () => dbSize),
    labelled(
      'dbwarden_watched_table_rows',
      'Rows of each watched table at the last check',
      'table',
      () => rows,
    ),
    labelled('dbwarden_open_warnings', 'Open warnings by code', 'code', () => warnings),
    () => ({
      name: 'dbwarden_command_duration_seconds',
      help: 'Time to answer a chat command, by platform and command',
      type: 'histogram',
      aggregator: 'sum',
      values: [...latency.values()].flatMap((l) => {
        const labels = { platform: l.platform, command: l.command };
        const name = 'dbwarden_command_duration_seconds';
        return [
          ...LATENCY_BUCKETS.map((le, i) => ({
            value: l.buckets[i]!,
            labels: { le: String(le), ...labels },
            metricName: `${name}_bucket`,
          })),
          { value: l.count, labels: { le: '+Inf', ...labels }, metricName: `${name}_bucket` },
          { value: l.sum, labels, metricName: `${name}_sum` },
          { value: l.count, labels, metricName: `${name}_count` },
        ];
      }),
    }),
  ];

  let registry: Promise<import('prom-client').Registry> | null = null;
  const loadRegistry = async () => {
    const client = await import('prom-client');
    const r = new client.Registry();
    // Process metrics (CPU, memory, event loop lag, GC) count from here: CPU and memory are totals anyway.
    if (opts.defaults !== false) client.collectDefaultMetrics({ register: r, prefix: 'dbwarden_process_' });
    for (const collect of collectors) {
      const { name, help, type } = collect();
      r.registerMetric({
        name,
        help,
        type,
        get: async () => collect(),
      } as unknown as import('prom-client').Metric);
    }
    return r;
  };

  const setLast = (m: Pick<BackupManifest, 'finishedAt' | 'sizeBytes' | 'durationMs'>) => {
    last = { at: Date.parse(m.finishedAt) / 1000, size: m.sizeBytes, duration: m.durationMs / 1000 };
  };
  return {
    async exposition() {
      registry ??= loadRegistry().catch((err: unknown) => {
        registry = null;
        throw err;
      });
      const r = await registry;
      return { contentType: r.contentType, text: await r.metrics() };
    },
    backupFinished(result, manifest) {
      backups[result] += 1;
      if (result === 'success' && manifest) setLast(manifest);
    },
    lastGoodBackup(manifest) {
      if (manifest) setLast(manifest);
    },
    statusProbed(s) {
      reachable = s.reachable ? 1 : 0;
      if (!s.reachable) return;
      dbSize = s.sizeBytes ?? 0;
      rows = new Map(s.tables.filter((t) => t.watched).map((t) => [`${t.schema}.${t.name}`, t.rows]));
    },
    openWarnings(codes) {
      warnings = new Map();
      for (const c of codes) warnings.set(c, (warnings.get(c) ?? 0) + 1);
    },
    commandAnswered(platform, command, seconds) {
      const key = `${platform}\u0000${command}`;
      let l = latency.get(key);
      if (!l) {
        l = { platform, command, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
        latency.set(key, l);
      }
      LATENCY_BUCKETS.forEach((le, i) => {
        if (seconds <= le) l.buckets[i]! += 1;
      });
      l.sum += seconds;
      l.count += 1;
    },
  };
}
