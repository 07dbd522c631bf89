import { describe, expect, it } from 'vitest';
import type { DbStatus } from '../src/core/status.js';
import { createMetrics } from '../src/serve/metrics.js';
import type { BackupManifest } from '../src/store/manifest.js';

describe('metrics', () => {
  it('exposes backups, database size, watched rows, open warnings and command latency in Prometheus format', async () => {
    const m = createMetrics({ defaults: false });
    m.backupFinished('success', {
      finishedAt: '2026-11-24T03:00:10.000Z',
      sizeBytes: 123456,
      durationMs: 9500,
    } as BackupManifest);
    m.backupFinished('failure');
    m.statusProbed({
      reachable: true,
      sizeBytes: 987654,
      tables: [
        { schema: 'public', name: 'auth_user', rows: 40, exact: true, watched: true, sizeBytes: 1 },
        { schema: 'public', name: 'django_session', rows: 5, exact: false, watched: false, sizeBytes: 1 },
      ],
    } as DbStatus);
    m.openWarnings(['backup-stale', 'rows-dropped', 'rows-dropped']);
    m.commandAnswered('slack', 'db-status', 0.2);
    const { text, contentType } = await m.exposition();
    expect(contentType).toMatch(/^text\/plain; version=0.0.4/);
    expect(text).toContain('dbwarden_backups_total{result="success"} 1');
    expect(text).toContain('dbwarden_backups_total{result="failure"} 1');
    expect(text).toContain('dbwarden_backup_last_success_timestamp_seconds 1795489210');
    expect(text).toContain('dbwarden_backup_last_size_bytes 123456');
    expect(text).toContain('dbwarden_backup_last_duration_seconds 9.5');
    expect(text).toContain('dbwarden_database_size_bytes 987654');
    expect(text).toContain('dbwarden_watched_table_rows{table="public.auth_user"} 40');
    expect(text).not.toContain('django_session');
    expect(text).toContain('dbwarden_open_warnings{code="rows-dropped"} 2');
    expect(text).toContain('dbwarden_command_duration_seconds_count{platform="slack",command="db-status"} 1');
    expect(text).toContain('# TYPE dbwarden_command_duration_seconds histogram');
    // Cumulative buckets: 0.2 s is not within 0.1 s, within 0.25 s and every bucket above.
    expect(text).toContain(
      'dbwarden_command_duration_seconds_bucket{le="0.1",platform="slack",command="db-status"} 0',
    );
    expect(text).toContain(
      'dbwarden_command_duration_seconds_bucket{le="0.25",platform="slack",command="db-status"} 1',
    );
    expect(text).toContain(
      'dbwarden_command_duration_seconds_bucket{le="+Inf",platform="slack",command="db-status"} 1',
    );
    expect(text).toContain('dbwarden_command_duration_seconds_sum{platform="slack",command="db-status"} 0.2');
    // A figure recorded after the first scrape shows in the next one.
    m.commandAnswered('slack', 'db-status', 3);
    m.backupFinished('failure');
    const again = (await m.exposition()).text;
    expect(again).toContain(
      'dbwarden_command_duration_seconds_count{platform="slack",command="db-status"} 2',
    );
    expect(again).toContain(
      'dbwarden_command_duration_seconds_bucket{le="2.5",platform="slack",command="db-status"} 1',
    );
    expect(again).toContain('dbwarden_backups_total{result="failure"} 2');
  });
});
