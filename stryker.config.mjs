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
  // The machine is shared: one test process at a time.
  concurrency: 1,
  // Loaded machine and tests against real servers on loopback: be patient before calling a mutant a timeout.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  // clear-text prints the score per file and per folder.
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { allowColor: false, reportMutants: false, reportTests: false, skipFull: false },
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['reports', 'dist', '.cache', 'bench', 'charts', 'manifests', 'test/apiserver', 'test/helm', 'test/kubeconform'],
  cleanTempDir: 'always',
};
