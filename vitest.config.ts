import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    projects: [
      {
        // Pure logic and protocol code against real servers on loopback; no Kubernetes.
        extends: true,
        test: { name: 'local', include: ['test/local/**/*.test.ts'] },
      },
      {
        // Everything that touches Kubernetes: one real API server per run, a namespace per file.
        extends: true,
        test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], globalSetup: ['test/global-setup.ts'] },
      },
    ],
  },
});
