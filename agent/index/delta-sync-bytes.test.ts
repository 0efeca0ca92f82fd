import { expect, test } from 'vitest';
import { formatDeltaSync, measureDeltaSync } from '../../bench/search/delta-sync-bytes.js';

test('a reconnect costs the 32 KiB summary, plus only the buckets of the files that changed', async () => {
  const result = await measureDeltaSync(20_000, 10);
  process.stdout.write(`${formatDeltaSync(result)}\n`);
  // 4096 digests of 8 hex characters, plus the message around them.
  expect(result.unchanged.bytesUp).toBeGreaterThan(32 * 1024);
  expect(result.unchanged.bytesUp).toBeLessThan(33 * 1024);
  expect(result.unchanged.batches).toBe(0);
  expect(result.afterChanges.bucketsSent).toBeLessThanOrEqual(10);
  // Ten buckets of ~5 entries each (20,000 / 4096) at a few hundred bytes an entry.
  expect(result.afterChanges.bytesUp - result.unchanged.bytesUp).toBeLessThan(40 * 1024);
  // Every non-empty bucket (a few of 4096 hold none of 20,000 paths: equal, zero digests on both sides).
  expect(result.first.bucketsSent).toBeGreaterThan(4000);
  expect(result.first.bytesUp).toBeGreaterThan(20_000 * 100);
}, 120_000);
