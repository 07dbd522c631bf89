// Modules dbwarden swaps into a dependency, the same way wherever it runs: the bundle (scripts/build.mjs), the tests
// (vitest.config.ts) and runs from source through tsx (`node --import ./scripts/alias-hooks.mjs`: npm start).
import { fileURLToPath, pathToFileURL } from 'node:url';

const src = (path) => fileURLToPath(new URL(`../src/${path}`, import.meta.url));

/** Inside package `within`, the import `specifier` is answered by `file` instead. */
export const ALIASES = [
  // The age library's ChaCha20-Poly1305 from node's OpenSSL instead of JavaScript (the file says why).
  { within: 'age-encryption', specifier: '@noble/ciphers/chacha.js', file: src('backup/openssl-chacha.ts') },
];

/** The file that answers `specifier` imported from `importer` (a path or file URL), or null: not swapped. */
export function swapFor(specifier, importer) {
  if (!importer) return null;
  const from = (importer.startsWith('file:') ? fileURLToPath(importer) : importer).replaceAll('\\', '/');
  const hit = ALIASES.find((a) => a.specifier === specifier && from.includes(`/node_modules/${a.within}/`));
  return hit ? hit.file : null;
}

/** Node's resolve hook (registered by alias-hooks.mjs). */
export async function resolve(specifier, context, next) {
  const file = swapFor(specifier, context.parentURL);
  return file ? { url: pathToFileURL(file).href, shortCircuit: true } : next(specifier, context);
}
