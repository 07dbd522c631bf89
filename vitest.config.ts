import { defineConfig } from 'vitest/config';
import { ALIASES, swapFor } from './scripts/aliases.mjs';

export default defineConfig({
  // The tests run the same modules the bundle does (scripts/aliases.mjs): the age library is processed here rather
  // than loaded by node, so its imports go through this resolver.
  plugins: [
    {
      name: 'dbwarden-aliases',
      enforce: 'pre',
      resolveId: (specifier: string, importer?: string) => swapFor(specifier, importer) ?? null,
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // Each file starts its own PostgreSQL cluster; two cores do not run many at once well.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    server: { deps: { inline: [...new Set(ALIASES.map((a) => a.within))] } },
  },
});
