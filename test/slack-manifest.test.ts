import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { buildServices } from '../src/main.js';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => void;

/** Slack's published manifest schema (v2), copied into the repository so a clean clone can run this test. */
const SCHEMA = 'test/fixtures/slack-manifest-schema/slack-manifest.schema.2.0.0.json';
/** Where the team keeps the upstream copy, next to the repository. */
const SHARED = '../shared/schemas/slack-manifest.schema.2.0.0.json';

function validator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  // Not strict: the schema carries annotations such as "_note"; formats and "regex" are still enforced.
  // Slack's schema says "regex" where JSON Schema says "pattern"; enforce it rather than ignore it.
  ajv.addKeyword({
    keyword: 'regex',
    type: 'string',
    schemaType: 'string',
    validate: (re: string, data: string) => new RegExp(re).test(data),
  });
  return ajv.compile(readJson(root(SCHEMA)));
}

describe('manifest.json', () => {
  const manifest = readJson(root('manifest.json'));

  it("validates against Slack's manifest JSON schema", () => {
    const validate = validator();
    const ok = validate(manifest);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema rejects a broken manifest (the validator really checks)', () => {
    const validate = validator();
    const broken = structuredClone(manifest);
    broken.features.slash_commands[0].command = 'db-status';
    broken.display_information.background_color = 'blue';
    broken.settings.socket_mode = true;
    expect(validate(broken)).toBe(false);
    const paths = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
    expect(paths).toContain('/features/slash_commands/0/command pattern');
    expect(paths).toContain('/display_information/background_color regex');
    expect(paths).toContain('/settings additionalProperties');
  });

  it('the copied schema matches the shared upstream copy when present', () => {
    const shared = root(SHARED);
    if (!existsSync(shared)) return; // a clean clone has only the copy
    expect(readJson(root(SCHEMA))).toEqual(readJson(shared));
  });

  it('declares every chat command the bot serves, as the bot describes it, with minimal scopes and Socket Mode', async () => {
    const services = await buildServices({
      env: {
        DATABASE_URL: 'postgres://app:unused@127.0.0.1:1/app',
        DBWARDEN_STORE: mkdtempSync(join(tmpdir(), 'dbwarden-manifest-')),
        LOG_LEVEL: 'silent',
      },
    });
    try {
      const declared = manifest.features.slash_commands as {
        command: string;
        description: string;
        usage_hint?: string;
      }[];
      for (const c of services.commands) {
        const entry = declared.find((d) => d.command === `/${c.name}`);
        expect(entry, `/${c.name} missing from manifest.json`).toBeDefined();
        expect(entry!.description).toBe(c.description);
        // Slack wants a non-empty hint or none: commands without arguments have none.
        expect(entry!.usage_hint).toBe(c.usage || undefined);
      }
      // And nothing else: a renamed command's old name (/digest, now /db-digest) is gone from the app.
      expect(declared.map((d) => d.command).sort()).toEqual(
        services.commands.map((c) => `/${c.name}`).sort(),
      );
      expect(declared.map((d) => d.command)).toContain('/db-digest');
      expect(declared.map((d) => d.command)).not.toContain('/digest');
    } finally {
      await services.close();
    }
    expect(manifest.oauth_config.scopes.bot).toEqual(['commands', 'chat:write']);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    // The buttons under warnings and failed backups: Socket Mode delivers presses without a request URL.
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true });
    expect(manifest.features.bot_user.display_name).toBe('dbwarden');
  });
});
