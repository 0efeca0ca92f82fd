/*
 * What listing a large share costs the agent's PC: the first scan, hashing every file in the
 * background, and a restart with the hash cache (nothing read again). The event loop's worst
 * delay is measured throughout: it is what a visitor of the share would wait on top.
 *
 *   node dist/bench/search/listed-share-scan.js <folder> [cache-file]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createAgentLogger } from '../../agent/agent-logger.js';
import { hashFileSha256 } from '../../agent/index/background-hasher.js';
import { HashCache } from '../../agent/index/hash-cache.js';
import { ListedShare } from '../../agent/index/listed-share.js';

interface Phase {
  readonly ms: number;
  readonly maxLagMs: number;
  readonly reads: number;
  readonly rssMiB: number;
}

async function measure(root: string, cacheFile: string, wait: (share: ListedShare) => Promise<void>): Promise<Phase> {
  let reads = 0;
  let maxLag = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - 10);
    last = now;
  }, 10);
  const cache = new HashCache(cacheFile);
  const started = performance.now();
  const share = new ListedShare({
    policy: { root: fs.realpathSync(root), showHidden: false, followSymlinks: false }, locked: false, expiresAtMs: null, cache,
    logger: createAgentLogger('silent'), hashFile: (file) => { reads++; return hashFileSha256(file); },
  });
  await wait(share);
  const ms = performance.now() - started;
  clearInterval(ticker);
  share.close();
  cache.close();
  return { ms, maxLagMs: maxLag, reads, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

export async function measureListedShare(root: string, cacheFile: string): Promise<Record<string, Phase>> {
  fs.rmSync(cacheFile, { force: true });
  const firstScan = await measure(root, cacheFile, (share) => share.ready());
  fs.rmSync(cacheFile, { force: true });
  const hashedAll = await measure(root, cacheFile, (share) => share.settled());
  const restart = await measure(root, cacheFile, (share) => share.settled());
  return { 'first scan (listed, no digests yet)': firstScan, 'scan + every SHA-256': hashedAll, 'restart with the cache': restart };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = process.argv[2];
  if (root === undefined) {
    process.stderr.write('usage: listed-share-scan.js <folder> [cache-file]\n');
    process.exit(2);
  }
  const cacheFile = process.argv[3] ?? path.join(os.tmpdir(), `udns-bench-hashes-${process.pid}.sqlite`);
  measureListedShare(root, cacheFile).then((phases) => {
    for (const [label, phase] of Object.entries(phases)) {
      process.stdout.write(`${label.padEnd(38)} ${`${Math.round(phase.ms)} ms`.padStart(10)}  max event-loop delay ${Math.round(phase.maxLagMs)} ms  files read ${phase.reads}  rss ${Math.round(phase.rssMiB)} MiB\n`);
    }
    fs.rmSync(cacheFile, { force: true });
  }, (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
