// Two projects: every suite on the default backend (TAPEGRAD_BACKEND, else webasm), and the
// nn and ddpm suites again on the float64 reference backend, where their tolerances tighten
// (test/backend.ts: tol). Files that pin a backend themselves (the end-to-end demo run on
// webasm) are left out of the second project.
import { defineWorkspace } from 'vitest/config';

const shared = {
  setupFiles: ['test/setup.ts'],
  pool: 'forks' as const,
  testTimeout: 120_000,
  hookTimeout: 120_000,
};

export default defineWorkspace([
  {
    test: { ...shared, name: 'default', include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'] },
  },
  {
    test: {
      ...shared,
      name: 'reference',
      include: ['packages/nn/test/**/*.test.ts', 'packages/ddpm/test/**/*.test.ts'],
      exclude: ['packages/ddpm/test/e2e.test.ts'],
      env: { TAPEGRAD_BACKEND: 'reference' },
    },
  },
]);
