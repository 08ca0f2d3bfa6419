import { defineConfig } from 'vitest/config';

// End-to-end suites drive the real UI in web mode with the system Chromium; one file at a time, generous
// timeouts (they train a real model on the CPU).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 360_000,
    hookTimeout: 240_000,
  },
});
