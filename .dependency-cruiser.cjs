/**
 * The floors of src/, bottom up (see README "Development"): a module imports only from its own floor or below.
 *   1 core/ (and demo/)  2 store/  3 backup/  4 guard/  5 deploy/  6 chat/  then main.ts, then serve/ and cli/.
 * `npm test` runs this check; a violation names the two files.
 */
const floors = ['core', 'store', 'backup', 'guard', 'deploy', 'chat', 'main', 'serve'];
const path = {
  core: '^src/(core|demo)/',
  store: '^src/store/',
  backup: '^src/backup/',
  guard: '^src/guard/',
  deploy: '^src/deploy/',
  chat: '^src/chat/',
  main: '^src/main\\.ts$',
  serve: '^src/(serve/|cli/|cli\\.ts$)',
};
const above = (i) => `(${floors.slice(i + 1).map((f) => path[f]).join('|')})`;

module.exports = {
  forbidden: [
    ...floors.slice(0, -1).map((floor, i) => ({
      name: `floor-${floor}`,
      comment: `${floor} is below ${floors.slice(i + 1).join(', ')}: it must not import from them`,
      severity: 'error',
      from: { path: path[floor] },
      to: { path: above(i) },
    })),
    {
      name: 'serve-not-cli',
      comment: 'serve/ is what `cli serve` and the tests start; it must not reach into the CLI',
      severity: 'error',
      from: { path: '^src/serve/' },
      to: { path: '^src/(cli/|cli\\.ts$)' },
    },
    {
      name: 'core-no-platform',
      comment: 'core/, store/ and backup/ know nothing of chat platforms',
      severity: 'error',
      from: { path: '^src/(core|store|backup|guard|deploy)/' },
      to: { path: 'node_modules/(@slack|discord\\.js|@discordjs)/' },
    },
    {
      name: 'no-circular',
      comment: 'no import circles between files',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'a module nothing imports is dead code (entry points excepted)',
      severity: 'error',
      from: { orphan: true, path: '^src/', pathNot: '^src/(cli|main)\\.ts$|\\.d\\.ts$' },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
