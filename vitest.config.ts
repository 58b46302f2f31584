import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (no kernel, may use recorded netlink bytes) and integration tests
// that build real network namespaces and run real MPTCP traffic (root only; they skip otherwise).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'shared/**/*.test.ts',
            'src-main/**/*.test.ts',
            'src-renderer/**/*.test.{ts,tsx}',
            'eslint-rules/**/*.test.ts',
          ],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
          environment: 'node',
          // Seeded fuzz loops run all their iterations (shared/testing/fuzz.ts): room for a loaded
          // 2-core machine, where the default 5 s was cut short by other work.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['src-main/**/*.int.test.ts', 'bench/**/*.int.test.ts'],
          // Namespaces and traffic share one machine: run files one at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          globalSetup: ['src-main/lab/global-setup.ts'],
        },
      },
    ],
  },
});
