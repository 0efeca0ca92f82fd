import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isUdnsError } from './errors.js';
import { leafHash, merkleRoot } from './merkle.js';
import {
  CHUNK_BYTES,
  SEAL_TAG_BYTES,
  SealedChunkChecker,
  chunkCount,
  commitPlain,
  commitSealed,
  decodeManifest,
  encodeManifest,
  keyHash,
  openChunk,
  plainChunkLength,
  sealChunk,
  sealedChunkLength,
  sealedOffsetOfChunk,
  sealedSize,
  sealedStream,
} from './sealed-file.js';

const MiB = CHUNK_BYTES;
const SIZES = [0, 1, MiB, MiB + 1, 3.5 * MiB];
const key = Buffer.alloc(32, 7);
const saleId = 'a1'.repeat(16);
let dir: string;
const files = new Map<number, { path: string; bytes: Buffer }>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'udns-sealed-'));
  for (const size of SIZES) {
    const bytes = randomBytes(size);
    const path = join(dir, `file-${size}`);
    await writeFile(path, bytes);
    files.set(size, { path, bytes });
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(stream: Readable | NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

/** Feeds `bytes` to the checker in pieces of pseudo-random sizes (1 byte to 300 KiB). */
function pushInPieces(checker: SealedChunkChecker, bytes: Buffer, seed = 1): void {
  let state = seed;
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const length = state % 7 === 0 ? 1 : 1 + (state % (300 * 1024));
    checker.push(bytes.subarray(at, at + length));
    at += length;
  }
}

describe('chunk arithmetic', () => {
  test('an empty file is one empty chunk; the last chunk is the short one', () => {
    expect(SIZES.map(chunkCount)).toEqual([1, 1, 1, 2, 4]);
    expect(plainChunkLength(0, 0)).toBe(0);
    expect(sealedChunkLength(0, 0)).toBe(SEAL_TAG_BYTES);
    expect(sealedSize(0)).toBe(16);
    expect(plainChunkLength(MiB + 1, 1)).toBe(1);
    expect(plainChunkLength(3.5 * MiB, 3)).toBe(MiB / 2);
    expect(sealedSize(3.5 * MiB)).toBe(3.5 * MiB + 4 * 16);
    expect(sealedOffsetOfChunk(3.5 * MiB, 2)).toBe(2 * (MiB + 16));
    expect(sealedOffsetOfChunk(3.5 * MiB, 4)).toBe(sealedSize(3.5 * MiB));
    expect(isUdnsError(thrownBy(() => plainChunkLength(MiB, 1)), 'bad_request')).toBe(true);
    expect(isUdnsError(thrownBy(() => chunkCount(-1)), 'bad_request')).toBe(true);
  });
});

describe('sealChunk / openChunk', () => {
  test('the format is the documented one: nonce 0000 || u64 index, AAD label || saleId || u64 index || u64 count', () => {
    const plain = Buffer.from('hello, buyer');
    const nonce = Buffer.from('00000000' + '0000000000000003', 'hex');
    const aad = Buffer.concat([Buffer.from('udns-sealed-v1'), Buffer.from(saleId), Buffer.from('0000000000000003' + '0000000000000009', 'hex')]);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    const expected = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    expect(sealChunk(key, saleId, 3, 9, plain).toString('hex')).toBe(expected.toString('hex'));
  });

  test('round trips; another key, sale, place, count or a flipped byte does not open', () => {
    const plain = randomBytes(1000);
    const sealed = sealChunk(key, saleId, 2, 5, plain);
    expect(sealed.length).toBe(1000 + SEAL_TAG_BYTES);
    expect(openChunk(key, saleId, 2, 5, sealed)).toEqual(plain);
    expect(openChunk(Buffer.alloc(32, 8), saleId, 2, 5, sealed)).toBeNull();
    expect(openChunk(key, 'b2'.repeat(16), 2, 5, sealed)).toBeNull();
    expect(openChunk(key, saleId, 3, 5, sealed)).toBeNull();
    expect(openChunk(key, saleId, 2, 4, sealed)).toBeNull();
    for (const at of [0, 500, 999, 1000, 1015]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      expect(openChunk(key, saleId, 2, 5, bad)).toBeNull();
    }
    expect(openChunk(key, saleId, 2, 5, sealed.subarray(0, 10))).toBeNull();
    expect(openChunk(key, saleId, 0, 1, sealChunk(key, saleId, 0, 1, Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
  });

  test('keyHash is SHA-256 of the label and the key', () => {
    expect(keyHash(key)).toBe(createHash('sha256').update('udns-sale-key-v1\n').update(key).digest('hex'));
    expect(isUdnsError(thrownBy(() => sealChunk(Buffer.alloc(16), saleId, 0, 1, Buffer.alloc(1))), 'bad_request')).toBe(true);
  });
});

describe.each(SIZES)('a file of %d bytes', (size) => {
  test('commitPlain, commitSealed and the sealed stream agree, chunk by chunk', async () => {
    const { path, bytes } = files.get(size)!;
    const plain = await commitPlain(path);
    expect(plain.size).toBe(size);
    expect(plain.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const expectedLeaves = Array.from({ length: chunkCount(size) }, (_, i) => leafHash(bytes.subarray(i * MiB, Math.min(size, (i + 1) * MiB))));
    expect(plain.leaves).toEqual(expectedLeaves);
    expect(plain.root).toBe(merkleRoot(expectedLeaves).toString('hex'));
    // The same from a stream cut into odd pieces.
    const fromStream = await commitPlain(createReadStream(path, { highWaterMark: 77_777 }));
    expect(fromStream).toEqual(plain);

    const sealed = await commitSealed(path, key, saleId);
    expect(sealed.size).toBe(size);
    expect(sealed.sha256).toBe(plain.sha256);
    expect(sealed.plainLeaves).toEqual(plain.leaves);
    expect(sealed.plainRoot).toBe(plain.root);
    expect(sealed.cipherRoot).toBe(merkleRoot(sealed.cipherLeaves).toString('hex'));

    const whole = await collect(sealedStream(path, key, saleId, size));
    expect(whole.length).toBe(sealedSize(size));
    const count = chunkCount(size);
    for (let index = 0; index < count; index += 1) {
      const chunk = whole.subarray(sealedOffsetOfChunk(size, index), sealedOffsetOfChunk(size, index + 1));
      expect(chunk.length).toBe(sealedChunkLength(size, index));
      expect(leafHash(chunk)).toEqual(sealed.cipherLeaves[index]);
      expect(openChunk(key, saleId, index, count, chunk)?.equals(bytes.subarray(index * MiB, index * MiB + plainChunkLength(size, index)))).toBe(true);
    }

    const checker = new SealedChunkChecker(size, sealed.cipherLeaves);
    pushInPieces(checker, whole);
    checker.finish();
    expect(checker.chunksVerified).toBe(count);
    expect(checker.bytesVerified).toBe(sealedSize(size));

    // Another sale of the same file seals differently.
    expect((await commitSealed(path, key, 'c3'.repeat(16))).cipherRoot).not.toBe(sealed.cipherRoot);
  });

  test('every Range is the slice of the whole', async () => {
    const { path } = files.get(size)!;
    const whole = await collect(sealedStream(path, key, saleId, size));
    const total = whole.length;
    const ranges = [
      [0, total - 1],
      [0, 0],
      [total - 1, total - 1],
      [Math.floor(total / 2), total - 1],
      [5, Math.min(total - 1, MiB + 40)],
      [Math.min(total - 1, MiB + 15), Math.min(total - 1, MiB + 17)],
      [Math.min(total - 1, MiB + 16), Math.min(total - 1, 3 * MiB)],
      [Math.min(total - 1, 2 * MiB + 100), Math.min(total - 1, 2 * MiB + 100)],
    ];
    for (const [start, end] of ranges) {
      const slice = await collect(sealedStream(path, key, saleId, size, { start: start!, end: end! }));
      expect(slice.equals(whole.subarray(start!, end! + 1))).toBe(true);
    }
    expect(isUdnsError(thrownBy(() => sealedStream(path, key, saleId, size, { start: 0, end: total })), 'bad_request')).toBe(true);
    expect(isUdnsError(thrownBy(() => sealedStream(path, key, saleId, size, { start: 2, end: 1 })), 'bad_request')).toBe(true);
  });

  test('a flipped byte fails openChunk and the checker names its chunk', async () => {
    const { path } = files.get(size)!;
    const sealed = await commitSealed(path, key, saleId);
    const whole = await collect(sealedStream(path, key, saleId, size));
    const count = chunkCount(size);
    const bad = count - 1;
    const at = sealedOffsetOfChunk(size, bad) + Math.floor(sealedChunkLength(size, bad) / 2);
    const tampered = Buffer.from(whole);
    tampered[at]! ^= 0x80;
    const chunk = tampered.subarray(sealedOffsetOfChunk(size, bad), sealedOffsetOfChunk(size, bad + 1));
    expect(openChunk(key, saleId, bad, count, chunk)).toBeNull();

    const checker = new SealedChunkChecker(size, sealed.cipherLeaves);
    const error = thrownBy(() => pushInPieces(checker, tampered, 3));
    expect(isUdnsError(error, 'hash_mismatch')).toBe(true);
    expect((error as Error).message).toBe(`chunk ${bad} of the sealed file does not match the seller's commitment`);
    expect(checker.chunksVerified).toBe(bad);
    expect(isUdnsError(thrownBy(() => checker.push(Buffer.alloc(1))), 'hash_mismatch')).toBe(true);
    expect(isUdnsError(thrownBy(() => checker.finish()), 'hash_mismatch')).toBe(true);
  });

  test('the checker refuses missing and extra bytes, and resumes at a chunk boundary', async () => {
    const { path } = files.get(size)!;
    const sealed = await commitSealed(path, key, saleId);
    const whole = await collect(sealedStream(path, key, saleId, size));

    const short = new SealedChunkChecker(size, sealed.cipherLeaves);
    short.push(whole.subarray(0, whole.length - 1));
    expect(isUdnsError(thrownBy(() => short.finish()), 'transfer_unavailable')).toBe(true);

    const long = new SealedChunkChecker(size, sealed.cipherLeaves);
    expect(isUdnsError(thrownBy(() => long.push(Buffer.concat([whole, Buffer.alloc(1)]))), 'hash_mismatch')).toBe(true);

    const count = chunkCount(size);
    const from = count - 1;
    const resumed = new SealedChunkChecker(size, sealed.cipherLeaves, from);
    const rest = await collect(sealedStream(path, key, saleId, size, { start: sealedOffsetOfChunk(size, from), end: whole.length - 1 }));
    pushInPieces(resumed, rest, 5);
    resumed.finish();
    expect(resumed.chunksVerified).toBe(count);

    expect(isUdnsError(thrownBy(() => new SealedChunkChecker(size, [...sealed.cipherLeaves, sealed.cipherLeaves[0]!])), 'hash_mismatch')).toBe(true);
  });
});

describe('the checker against a cheating seller', () => {
  test('chunks swapped in place or sealed for another sale are refused', async () => {
    const size = 3.5 * MiB;
    const { path } = files.get(size)!;
    const sealed = await commitSealed(path, key, saleId);
    const whole = await collect(sealedStream(path, key, saleId, size));
    const one = MiB + SEAL_TAG_BYTES;
    const swapped = Buffer.concat([whole.subarray(one, 2 * one), whole.subarray(0, one), whole.subarray(2 * one)]);
    const checker = new SealedChunkChecker(size, sealed.cipherLeaves);
    expect((thrownBy(() => checker.push(swapped)) as Error).message).toContain('chunk 0 ');

    const other = await collect(sealedStream(path, key, 'd4'.repeat(16), size));
    const againstOther = new SealedChunkChecker(size, sealed.cipherLeaves);
    expect(isUdnsError(thrownBy(() => againstOther.push(other)), 'hash_mismatch')).toBe(true);
  });

  test('a file that changed size since the offer fails the stream', async () => {
    const path = join(dir, 'shrinking');
    await writeFile(path, randomBytes(2 * MiB));
    await truncate(path, MiB);
    await expect(collect(sealedStream(path, key, saleId, 2 * MiB))).rejects.toSatisfy((error) => isUdnsError(error, 'hash_mismatch'));
  });
});

describe('sealedStream', () => {
  test('a reader that leaves after the first piece leaves nothing running behind', async () => {
    const size = 3.5 * MiB;
    const { path } = files.get(size)!;
    for (let round = 0; round < 5; round += 1) {
      const stream = sealedStream(path, key, saleId, size);
      for await (const piece of stream as AsyncIterable<Buffer>) {
        expect(piece.length).toBeGreaterThan(0);
        break;
      }
      expect(stream.destroyed).toBe(true);
    }
    // The same file still streams whole afterwards (no handle or read left half-done).
    expect((await collect(sealedStream(path, key, saleId, size))).length).toBe(sealedSize(size));
  });
});

describe('manifest', () => {
  test('round trips and answers null to garbage', () => {
    const cipher = [leafHash(Buffer.from('a')), leafHash(Buffer.from('b'))];
    const plain = [leafHash(Buffer.from('c')), leafHash(Buffer.from('d'))];
    const bytes = encodeManifest(cipher, plain);
    expect(bytes.length).toBe(4 + 2 * 64);
    expect(bytes.readUInt32BE(0)).toBe(2);
    expect(decodeManifest(bytes)).toEqual({ cipherLeaves: cipher, plainLeaves: plain });
    expect(decodeManifest(Buffer.alloc(0))).toBeNull();
    expect(decodeManifest(Buffer.alloc(3))).toBeNull();
    expect(decodeManifest(Buffer.alloc(4))).toBeNull();
    expect(decodeManifest(bytes.subarray(0, bytes.length - 1))).toBeNull();
    expect(decodeManifest(Buffer.concat([bytes, Buffer.alloc(1)]))).toBeNull();
    const lying = Buffer.from(bytes);
    lying.writeUInt32BE(0xffffffff, 0);
    expect(decodeManifest(lying)).toBeNull();
    expect(isUdnsError(thrownBy(() => encodeManifest(cipher, plain.slice(1))), 'bad_request')).toBe(true);
  });
});
