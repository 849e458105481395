// Mutation testing (issue 17): `npm run test:mutation`. Slow; not in CI.
// Scope a run while developing: `npm run test:mutation -- --mutate 'src/store/**/*.ts'`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // Only the `local` project: see vitest.mutation.config.ts for why not `cluster`.
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: ['src/controller/**/*.ts', 'src/endpoint/**/*.ts', 'src/routing/**/*.ts', 'src/store/**/*.ts'],
  // Three times the 2-core machine's cores: the socket and store tests mostly wait (smtp-server's
  // 100 ms greeting pause, idle timeouts, Redis round trips); two runners left the cores idle
  // more than half the time, four about 45%. Six: the four folders in 55 minutes on a quiet
  // machine (four: on course for 70). Scope a run with --mutate while working on one folder.
  concurrency: 6,
  // A mutant that hangs a socket test costs this slack on top of twice the test's own time.
  timeoutMS: 5_000,
  timeoutFactor: 2,
  // Static mutants (module-level constants: condition and reason names, the ErrorCode table,
  // regexes) run only at import, so Stryker re-runs the whole local suite for each (~2.5 min):
  // about 200 of them would take the run past eight hours. The tests that check those
  // constants (error-table, schema-agreement, the reason tables) still run; the score counts
  // the mutants a test can switch on.
  ignoreStatic: true,
  // clear-text prints the score per file and per folder.
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { allowColor: false, reportMutants: false, reportTests: false, skipFull: false },
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['reports', 'dist', '.cache', 'bench', 'charts', 'manifests', 'test/apiserver', 'test/helm', 'test/kubeconform'],
  cleanTempDir: 'always',
};
