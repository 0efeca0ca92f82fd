import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import { useNativeCrc32 } from './native-crc32.js';

test('the native CRC-32 gives what crc-32 gave, seeded and chunked, for the module archiver uses', () => {
  const crc = createRequire(import.meta.url)('crc-32') as { buf(data: Uint8Array, seed?: number): number };
  const original = crc.buf;
  const chunks = [randomBytes(1), randomBytes(1000), randomBytes(65_537), Buffer.alloc(0), randomBytes(3)];
  const chained = (buf: typeof original): number => chunks.reduce((state, chunk) => buf(chunk, state) >>> 0, 0);
  const expected = { whole: original(Buffer.concat(chunks)), chained: chained(original), bufferSeed: original(chunks[2]!, Buffer.alloc(4) as unknown as number) };
  useNativeCrc32();
  expect(crc.buf).not.toBe(original);
  expect(crc.buf(Buffer.concat(chunks))).toBe(expected.whole);
  expect(chained(crc.buf)).toBe(expected.chained);
  expect(crc.buf(chunks[2]!, Buffer.alloc(4) as unknown as number)).toBe(expected.bufferSeed);
  crc.buf = original;
});
