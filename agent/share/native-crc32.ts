import { createRequire } from 'node:module';
import zlib from 'node:zlib';

interface Crc32Module {
  buf(data: Uint8Array, seed?: number): number;
}

let installed = false;

/**
 * Makes archiver's CRC-32 native. Every byte of a ZIP goes through the pure-JS `crc-32`
 * package (via crc32-stream and compress-commons), which took a quarter of the agent's CPU in
 * `npm run bench:share`'s `?zip`; Node has had zlib's C `crc32` since 20.15. Both packages
 * reach `crc-32` as one shared CommonJS module, so replacing its `buf` here changes what they
 * call. Same results (signed 32-bit, seeded), checked against the original in the unit test.
 * Without `zlib.crc32` (Node < 20.15) nothing changes.
 */
export function useNativeCrc32(): void {
  if (installed || typeof zlib.crc32 !== 'function') return;
  installed = true;
  const crc = createRequire(import.meta.url)('crc-32') as Crc32Module;
  // crc32-stream passes its initial state as a Buffer (crc-32 reads that as 0).
  crc.buf = (data, seed) => zlib.crc32(data, typeof seed === 'number' ? seed >>> 0 : 0) | 0;
}
