import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasDestructive, lintSql } from '../src/deploy/migration-lint.js';

const fixture = (name: string) => readFileSync(`test/fixtures/migrations/${name}`, 'utf8');
const brief = (fs: Awaited<ReturnType<typeof lintSql>>) => fs.map((f) => [f.rule, f.severity, f.line]);

describe('migration lint (PostgreSQL parser)', () => {
  it('passes a Django migration that only adds a field, a model and indexes', async () => {
    const findings = await lintSql(fixture('django_0004_add_field.sql'));
    expect(findings).toEqual([]);
  });

  it('flags what a Django RemoveField / AlterField / RenameField / DeleteModel migration does, with lines', async () => {
    const findings = await lintSql(fixture('django_0005_remove_field.sql'), { source: 'billing.0005' });
    expect(brief(findings)).toEqual([
      ['drop-column', 'destructive', 5],
      ['alter-column-type', 'risky', 9],
      ['rename-column', 'risky', 13],
      ['set-not-null', 'risky', 17],
      ['drop-unique-constraint', 'risky', 21],
      ['drop-table', 'destructive', 25],
    ]);
    expect(findings[0]).toMatchObject({
      statement: 'ALTER TABLE "billing_transaction" DROP COLUMN "note" CASCADE',
      source: 'billing.0005',
      why: expect.stringContaining('Deletes column note of billing_transaction'),
    });
    expect(hasDestructive(findings)).toBe(true);
  });

  it('flags Rails renames, unique index drops (by name or by catalog) and UPDATE without WHERE, not a scoped DELETE', async () => {
    const findings = await lintSql(fixture('rails_structure_change.sql'), {
      uniqueNames: new Set(['index_accounts_on_email']),
    });
    expect(brief(findings)).toEqual([
      ['rename-table', 'risky', 2],
      ['drop-unique-index', 'risky', 3],
      ['update-without-where', 'destructive', 5],
    ]);
  });

  it('flags Prisma column and table drops and a dropped unique index, but not a dropped foreign key', async () => {
    const findings = await lintSql(fixture('prisma_migration.sql'));
    expect(brief(findings)).toEqual([
      ['drop-column', 'destructive', 5],
      ['drop-table', 'destructive', 9],
      ['drop-unique-index', 'risky', 23],
    ]);
  });

  it('flags TRUNCATE, DELETE without WHERE, DROP SCHEMA and DROP DATABASE', async () => {
    const findings = await lintSql(fixture('dangerous_manual.sql'));
    expect(findings.map((f) => f.rule)).toEqual([
      'truncate',
      'delete-without-where',
      'drop-schema',
      'drop-database',
    ]);
    expect(findings[0]!.why).toBe('Empties billing_transaction, billing_meter.');
    expect(findings.every((f) => f.severity === 'destructive')).toBe(true);
  });

  it('reports unparseable SQL as an error finding, never as clean', async () => {
    const findings = await lintSql(fixture('broken.sql'), { source: 'broken.sql' });
    expect(findings).toEqual([
      expect.objectContaining({
        rule: 'unparseable',
        severity: 'error',
        line: 2,
        source: 'broken.sql',
        why: expect.stringContaining('syntax error'),
      }),
    ]);
    expect(hasDestructive(findings)).toBe(true);
  });

  it('counts lines correctly after multi-byte text', async () => {
    const findings = await lintSql("INSERT INTO notes VALUES ('café ☕');\n\nDROP TABLE notes;");
    expect(brief(findings)).toEqual([['drop-table', 'destructive', 3]]);
  });
});
