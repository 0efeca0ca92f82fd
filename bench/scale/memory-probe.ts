/*
 * Preloaded into the edge and the agent by `npm run bench:scale` only (`node --expose-gc
 * --import …/memory-probe.js bin/udns.js …`): on SIGUSR2 it collects garbage (when --expose-gc
 * is on) and prints one stdout line `udns-memory {"rss":…,"heapUsed":…,…}` with a sequence
 * number, so the bench can compare memory after a collection, not whatever the GC left lying.
 * Nothing in udns itself listens on SIGUSR2. With UDNS_SCALE_SNAPSHOT_DIR set it also writes a
 * heap snapshot there (named in the line as `snapshot`), for heap-summary.ts to compare.
 */
import path from 'node:path';
import v8 from 'node:v8';

let sequence = 0;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const memory = process.memoryUsage();
  sequence += 1;
  const directory = process.env.UDNS_SCALE_SNAPSHOT_DIR;
  const snapshot = directory ? v8.writeHeapSnapshot(path.join(directory, `${process.pid}-${sequence}.heapsnapshot`)) : undefined;
  process.stdout.write(`udns-memory ${JSON.stringify({ sequence, snapshot, gc: gc !== undefined, rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, arrayBuffers: memory.arrayBuffers })}\n`);
});
