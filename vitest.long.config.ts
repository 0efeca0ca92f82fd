import { defineConfig } from 'vitest/config';

/**
 * The long suites, kept out of `npm test`: `npm run test:chaos` (test/chaos/*.chaos.ts, plus
 * the fuzz tests and the thousand purchases of the default run with their counts raised through
 * env vars) and
 * `npm run soak` (test/soak/*.soak.ts). One file at a time: each drives real processes hard
 * and measures them, and the machine may have two cores.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts', 'test/soak/**/*.soak.ts', '**/*fuzz*.test.ts', 'test/e2e/exchange-thousand.test.ts', 'test/e2e/exchange-crash.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', 'bench/**'],
    testTimeout: 60 * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
