// The tests Stryker runs (stryker.config.mjs): the `local` project of vitest.config.ts.
// Not `cluster`, though it does run under Stryker's vitest runner (its globalSetup starts the
// kube-apiserver inside the sandbox; tried on src/routing/referenced-secrets.ts with
// test/cluster/routing/secrets.test.ts): 15 of its 24 files run the operator as users do,
// `node src/main.ts` in a child process (test/support/operator.ts), and the runner switches
// mutants on and records coverage only inside the vitest worker (`globalThis.__stryker__`), so
// those files can kill nothing. The in-process ones (caches, the HTTP door of
// test/support/send-endpoint.ts, the SMTP door) can, but cost 10-20 s a mutant on this machine
// (every mutant re-runs the file's setup: a namespace, informers, kubectl), and each static
// mutant would re-run the whole cluster suite. Local stand-ins cover what they would.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'local',
    include: ['test/local/**/*.test.ts'],
    // A mutant that hangs a socket test (a reply never sent, a stream never ended) fails that
    // test here, a kill, instead of running into Stryker's timeout (twice the covering tests'
    // time plus 5 s, 45 s for some) and a runner restart. The slowest local test that can
    // cover a mutant takes about 2.5 s; the tsc build test sets its own 120 s.
    testTimeout: 10_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
