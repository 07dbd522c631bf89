#!/usr/bin/env node
/**
 * The `dbwarden` executable. Node's settings for the verb come first, before any of dbwarden's modules is loaded
 * (a setting applies only to what runs after it); then cli/run.ts reads the command line and runs the verb.
 */
import module from 'node:module';

if (process.argv[2] !== 'serve') {
  // V8's compiled code for the modules a one-shot verb loads, kept on disk (Node's own cache, in the temp directory;
  // NODE_DISABLE_COMPILE_CACHE=1 turns it off): importing them takes ~20 % less. Not for `serve`, which starts once
  // and then idles: the cached code it would load costs ~4 MB of resident memory for good. Without a writable temp
  // directory the cache is simply not used.
  module.enableCompileCache?.();
  // Every verb but serve is I/O glue that runs for seconds or minutes (or, for `watch`, wakes for a round every few
  // minutes): V8's optimising compiler (TurboFan) would not repay its compiles, and the memory its compile threads
  // take stays with the process (glibc keeps their arenas), even for the few functions hot while the modules load. Its baseline and mid-tier compilers (Sparkplug,
  // Maglev) still run. Measured on the benchmark database: a backup's peak RSS 69 → 63 MB, an encrypted one
  // 75 → 65 MB, for the same CPU time (README, Performance).
  process.getBuiltinModule('node:v8').setFlagsFromString('--no-turbofan');
}
const { runMain } = await import('./cli/run.js');
runMain();
