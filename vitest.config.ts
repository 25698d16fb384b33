import { defineConfig } from 'vitest/config';

// Root options (pool, timeouts, reporters). The test projects, and which files each runs on
// which backend, are in vitest.workspace.ts.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // gpu.js modules and the Dawn device are per process; forks keep each file isolated.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
