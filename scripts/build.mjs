#!/usr/bin/env node
/**
 * dist/: the CLI bundled by esbuild. Every verb loads dbwarden's own modules, pg, zod and pino: ~270 ESM modules
 * that node resolves, reads and links one by one (~0.1 s and a few MB of module records before a backup's pg_dump
 * can start, measured in issue 14). Bundled, they are a handful of files. The heavy SDKs stay in node_modules and
 * are still imported only when used (a chat configured, an s3:// store, the first lint, the first /metrics scrape,
 * an encrypted backup); each lazy import of dbwarden's own code becomes a chunk of its own.
 * Types are checked by `npm run typecheck` (tsc), not here.
 */
import { chmodSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { ALIASES, swapFor } from './aliases.mjs';

/** Loaded from node_modules as they are: lazily imported SDKs, and what finds its own files at run time. */
const external = [
  '@slack/*',
  'discord.js',
  '@discordjs/*',
  '@aws-sdk/*',
  '@smithy/*',
  'libpg-query',
  'prom-client',
  'pino-pretty',
  // pg's optional native binding, never installed.
  'pg-native',
  // Forks a worker file it finds next to itself for background tasks.
  'node-cron',
];

/** The modules scripts/aliases.mjs swaps into dependencies. */
const swapped = {
  name: 'dbwarden-aliases',
  setup(b) {
    const escaped = ALIASES.map((a) => a.specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
    const done = new Set();
    b.onResolve({ filter: new RegExp(`^(${escaped.join('|')})$`) }, (args) => {
      const file = swapFor(args.path, args.importer);
      if (file) done.add(args.path);
      return file ? { path: file } : undefined;
    });
    // A dependency that stopped importing what is swapped would quietly get its own module back: fail instead.
    b.onEnd((result) => {
      const missed = ALIASES.filter((a) => !done.has(a.specifier));
      if (missed.length > 0 && result.errors.length === 0)
        throw new Error(
          `scripts/aliases.mjs: ${missed.map((a) => `${a.within} no longer imports ${a.specifier}`).join('; ')}: update the alias`,
        );
    });
  },
};

rmSync('dist', { recursive: true, force: true });
await build({
  // The executable and what it loads once node is set up: dist/cli.js and dist/cli/run.js, where src has them.
  entryPoints: ['src/cli.ts', 'src/cli/run.ts'],
  outbase: 'src',
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  external,
  plugins: [swapped],
  // Bundled CommonJS (pg, pino) calls require() for node's built-ins; an ES module has none of its own.
  banner: {
    js: "import { createRequire as __dbwardenRequire } from 'node:module'; const require = __dbwardenRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
chmodSync('dist/cli.js', 0o755);
