#!/usr/bin/env node
/**
 * The `dbwarden` executable. Node's settings for the verb come first, before any of dbwarden's modules is loaded
 * (a setting applies only to what runs after it); then cli/run.ts reads the command line and runs the verb.
 */
import module from 'node:module';
// Two small modules with no imports of their own: the report of a broken install needs them even if the rest fails.
import { DbwardenError } from './core/errors.js';
import { createRedactor } from './core/secrets.js';

const verb = process.argv[2];
if (verb !== 'serve') {
  // V8's compiled code for the modules a one-shot verb loads, kept on disk (Node's own cache, in the temp directory;
  // NODE_DISABLE_COMPILE_CACHE=1 turns it off): importing them takes ~20 % less. Not for `serve`, which starts once
  // and then idles: the cached code it would load costs ~4 MB of resident memory for good. Without a writable temp
  // directory the cache is simply not used.
  module.enableCompileCache?.();
}
if (verb === 'backup' || verb === 'verify' || verb === 'restore') {
  // The verbs that move a whole dump through or past node: their work is pg_dump's, OpenSSL's (SHA-256, the age
  // cipher) and the pipes', and the JavaScript between them is glue. V8's optimising compiler (TurboFan) would not
  // repay its compiles there, and the memory its compile threads take stays with the process (glibc keeps their
  // arenas). Without it only V8's interpreter and baseline compiler (Sparkplug) run: JavaScript that is CPU-bound
  // would be several times slower, which is why no other verb does this. Measured on the benchmark database: a
  // backup's peak RSS 69 → 63 MB, an encrypted one 75 → 65 MB, for the same CPU time (README, Performance).
  process.getBuiltinModule('node:v8').setFlagsFromString('--no-turbofan');
}
// Both dbwarden's own code failing to load and runCli's error handling failing mean a broken install (a package
// missing from node_modules). Say what broke, with every value of a variable that may hold a secret masked: the
// config module that names them may be what failed to load.
import('./cli/run.js')
  .then(({ runMain }) => runMain())
  .catch((err: unknown) => {
    const redact = createRedactor(
      Object.entries(process.env)
        .filter(([name]) => /URL|PASSWORD|TOKEN|SECRET|KEY|IDENTITY|CREDENTIAL/i.test(name))
        .map(([, value]) => value),
    );
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      err instanceof DbwardenError
        ? `dbwarden: ${redact(message)}\n`
        : `dbwarden: unexpected failure: ${redact(message)}\n  → If a package is missing, reinstall dbwarden (npm ci in its directory, or pull the image again); otherwise please report this.\n`,
    );
    process.exitCode = 1;
  });
