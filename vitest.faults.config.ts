import { defineConfig } from 'vitest/config';

// The fault suite (test/faults/, `npm run test:faults`): faults under load with a
// ledger of what clients were told against what the upstream received. One file
// at a time, since each loads the machine on its own; the same API server setup
// as the cluster project.
export default defineConfig({
  test: {
    name: 'faults',
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
