import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests spawn the built CLI and move hundreds of MiB; two cores only.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
