/*
 * Preloaded into the edge and the agent by `npm run bench:scale` only (`node --expose-gc
 * --import …/memory-probe.js bin/udns.js …`): on SIGUSR2 it collects garbage (when --expose-gc
 * is on) and prints one stdout line `udns-memory {"rss":…,"heapUsed":…,…}` with a sequence
 * number, so the bench can compare memory after a collection, not whatever the GC left lying.
 * Nothing in udns itself listens on SIGUSR2.
 */
let sequence = 0;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const memory = process.memoryUsage();
  sequence += 1;
  process.stdout.write(`udns-memory ${JSON.stringify({ sequence, gc: gc !== undefined, rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, arrayBuffers: memory.arrayBuffers })}\n`);
});
