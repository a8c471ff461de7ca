import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: browser and media tests compete for CPU, so files run two at a time.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
