import { defineConfig } from 'vitest/config';
import SlowestFirstSequencer from './test/helpers/slowest-first-sequencer.js';

export default defineConfig({
  test: {
    include: ['protocol/**/*.test.ts', 'server/**/*.test.ts', 'agent/**/*.test.ts', 'cli/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', 'bench/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // share-file-handles runs the collector on demand. Setting --expose-gc at run time
    // (v8.setFlagsFromString) is undefined behaviour once V8 runs; one worker in ~20 runs died
    // of heap corruption ("malloc(): mismatching next->prev_size") before its first test.
    execArgv: ['--expose-gc'],
    // Two cores: more parallel files only make timing-sensitive network tests slower.
    maxWorkers: 2,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // A clean clone has no vitest cache: without this, CI orders files by size (see the class).
    sequence: { sequencer: SlowestFirstSequencer },
  },
});
