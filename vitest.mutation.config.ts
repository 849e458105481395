// The tests Stryker runs (stryker.config.mjs): the `local` project of vitest.config.ts.
// Not `cluster`: those tests run the operator as users do, `node src/main.ts` as a child process
// (test/support/operator.ts), and Stryker's vitest runner switches mutants on and records coverage
// only inside the vitest worker (`globalThis.__stryker__`), not in processes a test spawns. Every
// mutant reached only through the operator would be reported NoCoverage or Survived whatever the
// tests assert, and each run would start a kube-apiserver per sandbox for no kill.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'local',
    include: ['test/local/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
