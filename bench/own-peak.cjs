// Preloaded (node -r) into the benchmarked CLI: at exit it writes its own peak RSS in KB (getrusage RUSAGE_SELF),
// which GNU time cannot tell apart from pg_dump's (its %M is the largest of the process and the children it waited
// for). Loading this file is one small CommonJS module; it changes nothing the CLI does.
process.on('exit', () => {
  require('node:fs').writeFileSync(process.env.BENCH_OWN_PEAK_FILE, String(process.resourceUsage().maxRSS));
});
