import { defineConfig } from 'vitest/config';

// Engine tests run real tfjs numerics; they are CPU-bound, so files run in a small fork pool.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
