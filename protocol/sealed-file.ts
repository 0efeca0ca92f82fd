import { createCipheriv, createDecipheriv, createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { UdnsError } from './errors.js';
import { MERKLE_HASH_BYTES, leafHash, merkleRoot } from './merkle.js';

/*
 * A paid file as it travels before the buyer has paid (issue 11, docs/exchange.md): the
 * plaintext cut into CHUNK_BYTES chunks (the last one shorter; an empty file is one empty
 * chunk), each sealed on its own with AES-256-GCM under the sale key K, so the buyer can check
 * every chunk as it arrives against the seller's commitment (the Merkle root over the sealed
 * chunks' leaf hashes) and a single bad chunk is a compact proof (one chunk plus two audit
 * paths) that the escrow can verify.
 *
 *   sealed file = seal(0) || seal(1) || … || seal(count - 1)
 *   seal(i)     = AES-256-GCM(K, nonce(i), AAD(i), plain chunk i) = ciphertext || 16-byte tag
 *   nonce(i)    = 4 zero bytes || uint64 BE i           (one key per sale, so never reused)
 *   AAD(i)      = "udns-sealed-v1" || saleId (hex ASCII) || uint64 BE i || uint64 BE count
 *
 * The AAD binds each chunk to its sale, its place and the file's length, so chunks cannot be
 * moved, dropped at the end or replayed from another sale without the tag failing.
 */

/** Plaintext bytes per chunk (the last chunk may be shorter). */
export const CHUNK_BYTES = 1 << 20;
/** The GCM tag appended to every sealed chunk. */
export const SEAL_TAG_BYTES = 16;
/** Bytes of a sale key K (AES-256). */
export const SALE_KEY_BYTES = 32;

const SEALED_CHUNK_BYTES = CHUNK_BYTES + SEAL_TAG_BYTES;
const AAD_LABEL = Buffer.from('udns-sealed-v1', 'ascii');
const KEY_HASH_LABEL = Buffer.from('udns-sale-key-v1\n', 'ascii');
const LEAF_PREFIX = Buffer.from([0x00]);

/** How many chunks a file of `size` bytes has: max(1, ceil(size / CHUNK_BYTES)). */
export function chunkCount(size: number): number {
  checkFileSize(size);
  return Math.max(1, Math.ceil(size / CHUNK_BYTES));
}

/** Plaintext bytes of chunk `index` of a file of `size` bytes. */
export function plainChunkLength(size: number, index: number): number {
  checkIndex(size, index);
  return Math.min(CHUNK_BYTES, size - index * CHUNK_BYTES);
}

/** Sealed bytes of chunk `index` (plaintext + tag). */
export function sealedChunkLength(size: number, index: number): number {
  return plainChunkLength(size, index) + SEAL_TAG_BYTES;
}

/** Bytes of the whole sealed file. */
export function sealedSize(size: number): number {
  return size + chunkCount(size) * SEAL_TAG_BYTES;
}

/** Where chunk `index` starts in the sealed file (index = chunkCount gives sealedSize). */
export function sealedOffsetOfChunk(size: number, index: number): number {
  const count = chunkCount(size);
  if (!Number.isSafeInteger(index) || index < 0 || index > count) throw new UdnsError('bad_request', `chunk ${index} is not in a file of ${count} chunks`);
  return index === count ? sealedSize(size) : index * SEALED_CHUNK_BYTES;
}

function nonce(index: number): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeBigUInt64BE(BigInt(index), 4);
  return bytes;
}

function aad(saleId: string, index: number, count: number): Buffer {
  const numbers = Buffer.alloc(16);
  numbers.writeBigUInt64BE(BigInt(index), 0);
  numbers.writeBigUInt64BE(BigInt(count), 8);
  return Buffer.concat([AAD_LABEL, Buffer.from(saleId, 'ascii'), numbers]);
}

function checkKey(key: Buffer): void {
  if (key.length !== SALE_KEY_BYTES) throw new UdnsError('bad_request', `a sale key is ${SALE_KEY_BYTES} bytes, got ${key.length}`);
}

/**
 * AES-256-GCM, nonce = 12 bytes: 4 zero bytes || uint64 BE index; AAD = "udns-sealed-v1" ||
 * saleId (hex ascii) || uint64 BE index || uint64 BE chunkCount. Output ciphertext || tag.
 */
export function sealChunk(key: Buffer, saleId: string, index: number, count: number, plain: Buffer): Buffer {
  checkKey(key);
  const cipher = createCipheriv('aes-256-gcm', key, nonce(index), { authTagLength: SEAL_TAG_BYTES });
  cipher.setAAD(aad(saleId, index, count));
  const head = cipher.update(plain);
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()], plain.length + SEAL_TAG_BYTES);
}

/** The plaintext of a sealed chunk; null when the tag does not verify (wrong key, sale, place, count or bytes). */
export function openChunk(key: Buffer, saleId: string, index: number, count: number, sealed: Buffer): Buffer | null {
  checkKey(key);
  if (sealed.length < SEAL_TAG_BYTES) return null;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce(index), { authTagLength: SEAL_TAG_BYTES });
  decipher.setAAD(aad(saleId, index, count));
  decipher.setAuthTag(sealed.subarray(sealed.length - SEAL_TAG_BYTES));
  const head = decipher.update(sealed.subarray(0, sealed.length - SEAL_TAG_BYTES));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    return null;
  }
}

/** hex SHA-256("udns-sale-key-v1\n" || key): the offer's commitment to K (OfferBody.keyHash). */
export function keyHash(key: Buffer): string {
  return createHash('sha256').update(KEY_HASH_LABEL).update(key).digest('hex');
}

/** The listing's commitment to a file's plaintext. */
export interface PlainCommitment {
  /** hex SHA-256 of the whole file. */
  sha256: string;
  /** leafHash of every plaintext chunk. */
  leaves: Buffer[];
  /** hex Merkle root over `leaves`. */
  root: string;
  size: number;
}

/** One pass over a file: SHA-256 of the whole and the leaf hash of every CHUNK_BYTES chunk. */
export async function commitPlain(file: string | NodeJS.ReadableStream): Promise<PlainCommitment> {
  const input = typeof file === 'string' ? createReadStream(file, { highWaterMark: CHUNK_BYTES }) : file;
  const whole = createHash('sha256');
  const leaves: Buffer[] = [];
  let leaf = newLeafHasher();
  let inChunk = 0;
  let size = 0;
  for await (const piece of input as AsyncIterable<Buffer | string>) {
    let bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
    whole.update(bytes);
    size += bytes.length;
    while (bytes.length > 0) {
      const take = Math.min(CHUNK_BYTES - inChunk, bytes.length);
      leaf.update(bytes.subarray(0, take));
      inChunk += take;
      bytes = bytes.subarray(take);
      if (inChunk === CHUNK_BYTES) {
        leaves.push(leaf.digest());
        leaf = newLeafHasher();
        inChunk = 0;
      }
    }
  }
  // The last, shorter chunk; or the one empty chunk of an empty file.
  if (inChunk > 0 || leaves.length === 0) leaves.push(leaf.digest());
  return { sha256: whole.digest('hex'), leaves, root: merkleRoot(leaves).toString('hex'), size };
}

/** The seller's commitment at sale time: the plaintext's and the sealed chunks'. */
export interface SealedCommitment {
  /** hex SHA-256 of the whole plaintext. */
  sha256: string;
  plainLeaves: Buffer[];
  /** leafHash of every sealed chunk (ciphertext || tag). */
  cipherLeaves: Buffer[];
  plainRoot: string;
  cipherRoot: string;
  size: number;
}

/** One pass: seals every chunk (not kept) and returns the cipher leaves (leafHash of each sealed chunk) and plain leaves. */
export async function commitSealed(file: string, key: Buffer, saleId: string): Promise<SealedCommitment> {
  checkKey(key);
  const reader = await ChunkReader.open(file);
  try {
    const { size } = reader;
    const count = chunkCount(size);
    const whole = createHash('sha256');
    const plainLeaves: Buffer[] = [];
    const cipherLeaves: Buffer[] = [];
    for (let index = 0; index < count; index += 1) {
      const plain = await reader.read(index);
      whole.update(plain);
      plainLeaves.push(leafHash(plain));
      cipherLeaves.push(leafHash(sealChunk(key, saleId, index, count, plain)));
    }
    return {
      sha256: whole.digest('hex'),
      plainLeaves,
      cipherLeaves,
      plainRoot: merkleRoot(plainLeaves).toString('hex'),
      cipherRoot: merkleRoot(cipherLeaves).toString('hex'),
      size,
    };
  } finally {
    await reader.close();
  }
}

/**
 * A Readable of the sealed file from sealed byte `start` to `end` (inclusive; default the whole),
 * reading `file`, which must still be `size` bytes. A range may start and end inside a chunk: the
 * chunks it touches are sealed whole and sliced. The stream fails (UdnsError hash_mismatch) when
 * the file changed size since it was committed.
 * @throws UdnsError bad_request when the range is not inside the sealed file
 */
export function sealedStream(file: string, key: Buffer, saleId: string, size: number, range?: { start: number; end: number }): Readable {
  checkKey(key);
  const total = sealedSize(size);
  const start = range?.start ?? 0;
  const end = range?.end ?? total - 1;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= total) {
    throw new UdnsError('bad_request', `bytes ${start}-${end} are not inside the sealed file of ${total} bytes`);
  }
  const count = chunkCount(size);
  const first = Math.floor(start / SEALED_CHUNK_BYTES);
  const last = Math.floor(end / SEALED_CHUNK_BYTES);
  async function* chunks(): AsyncGenerator<Buffer> {
    const reader = await ChunkReader.open(file);
    try {
      if (reader.size !== size) throw changed(file, size, reader.size);
      for (let index = first; index <= last; index += 1) {
        const plain = await reader.read(index, index < last);
        const sealed = sealChunk(key, saleId, index, count, plain);
        const offset = index * SEALED_CHUNK_BYTES;
        yield sealed.subarray(Math.max(0, start - offset), Math.min(sealed.length, end + 1 - offset));
      }
    } finally {
      await reader.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: SEALED_CHUNK_BYTES });
}

/** Manifest: uint32 BE chunk count, then count cipher leaves, then count plain leaves (32 bytes each). */
export function encodeManifest(cipherLeaves: readonly Buffer[], plainLeaves: readonly Buffer[]): Buffer {
  if (cipherLeaves.length !== plainLeaves.length || cipherLeaves.length === 0) {
    throw new UdnsError('bad_request', `a manifest needs as many cipher leaves as plain leaves, at least one (got ${cipherLeaves.length} and ${plainLeaves.length})`);
  }
  const leaves = [...cipherLeaves, ...plainLeaves];
  if (leaves.some((leaf) => leaf.length !== MERKLE_HASH_BYTES)) throw new UdnsError('bad_request', `manifest leaves are ${MERKLE_HASH_BYTES}-byte hashes`);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(cipherLeaves.length);
  return Buffer.concat([count, ...leaves]);
}

/** The leaves of a manifest; null unless it is exactly 4 + 64·count bytes with count ≥ 1. */
export function decodeManifest(bytes: Buffer): { cipherLeaves: Buffer[]; plainLeaves: Buffer[] } | null {
  if (bytes.length < 4) return null;
  const count = bytes.readUInt32BE(0);
  if (count === 0 || bytes.length !== 4 + count * 2 * MERKLE_HASH_BYTES) return null;
  const leaf = (i: number) => Buffer.from(bytes.subarray(4 + i * MERKLE_HASH_BYTES, 4 + (i + 1) * MERKLE_HASH_BYTES));
  return {
    cipherLeaves: Array.from({ length: count }, (_, i) => leaf(i)),
    plainLeaves: Array.from({ length: count }, (_, i) => leaf(count + i)),
  };
}

/**
 * Checks a sealed byte stream chunk by chunk against the seller's cipher leaves as the bytes
 * arrive, in pieces of any size. Starting at `startChunk` (a resumed download) it expects the
 * bytes from that chunk's first byte on. `push` throws UdnsError('hash_mismatch') as soon as a
 * complete chunk does not match (and on bytes past the end); `finish` throws when bytes are
 * missing. After a throw the checker refuses everything.
 */
export class SealedChunkChecker {
  private readonly count: number;
  private index: number;
  private inChunk = 0;
  private hasher: Hash = newLeafHasher();
  private failure: UdnsError | null = null;

  constructor(
    private readonly size: number,
    private readonly cipherLeaves: readonly Buffer[],
    startChunk = 0,
  ) {
    this.count = chunkCount(size);
    if (cipherLeaves.length !== this.count) {
      throw new UdnsError('hash_mismatch', `the seller's commitment has ${cipherLeaves.length} chunks, a file of ${size} bytes has ${this.count}`);
    }
    if (!Number.isSafeInteger(startChunk) || startChunk < 0 || startChunk > this.count) {
      throw new UdnsError('bad_request', `cannot resume at chunk ${startChunk} of ${this.count}`);
    }
    this.index = startChunk;
  }

  /** Chunks checked so far (including those before startChunk): a download may resume here. */
  get chunksVerified(): number {
    return this.index;
  }

  /** Sealed bytes checked so far, from the file's start: where a resumed download starts. */
  get bytesVerified(): number {
    return sealedOffsetOfChunk(this.size, this.index);
  }

  /** Feeds the next bytes. @throws UdnsError hash_mismatch at the first bad chunk or extra byte */
  push(bytes: Buffer): void {
    if (this.failure) throw this.failure;
    let rest = bytes;
    while (rest.length > 0) {
      if (this.index >= this.count) {
        this.fail(`the sealed file is longer than the seller's commitment (${sealedSize(this.size)} bytes)`);
      }
      const want = sealedChunkLength(this.size, this.index) - this.inChunk;
      const take = Math.min(want, rest.length);
      this.hasher.update(rest.subarray(0, take));
      this.inChunk += take;
      rest = rest.subarray(take);
      if (take === want) {
        if (!this.hasher.digest().equals(this.cipherLeaves[this.index]!)) {
          this.fail(`chunk ${this.index} of the sealed file does not match the seller's commitment`);
        }
        this.index += 1;
        this.inChunk = 0;
        this.hasher = newLeafHasher();
      }
    }
  }

  /** @throws UdnsError transfer_unavailable when the sealed file ended early */
  finish(): void {
    if (this.failure) throw this.failure;
    if (this.index < this.count) {
      const got = sealedOffsetOfChunk(this.size, this.index) + this.inChunk;
      throw new UdnsError('transfer_unavailable', `the sealed file ended after ${got} of ${sealedSize(this.size)} bytes: the transfer was cut, try again to resume`);
    }
  }

  private fail(message: string): never {
    this.failure = new UdnsError('hash_mismatch', message);
    throw this.failure;
  }
}

function newLeafHasher(): Hash {
  return createHash('sha256').update(LEAF_PREFIX);
}

function checkFileSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new UdnsError('bad_request', `a file size is a non-negative integer, got ${size}`);
}

function checkIndex(size: number, index: number): void {
  const count = chunkCount(size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) throw new UdnsError('bad_request', `chunk ${index} is not in a file of ${count} chunks`);
}

function changed(file: string, expected: number, actual: number): UdnsError {
  return new UdnsError('hash_mismatch', `${file} changed since it was offered (${actual} bytes now, ${expected} committed): offer it again`);
}

/**
 * Reads whole plaintext chunks of a file at their offsets. Reading chunk i also starts reading
 * chunk i + 1 (in the thread pool) while the caller seals and hashes chunk i (on this thread).
 */
class ChunkReader {
  private ahead: { index: number; bytes: Promise<Buffer> } | null = null;

  private constructor(
    private readonly handle: FileHandle,
    private readonly file: string,
    readonly size: number,
  ) {}

  static async open(file: string): Promise<ChunkReader> {
    const handle = await open(file, 'r');
    try {
      const stat = await handle.stat();
      return new ChunkReader(handle, file, stat.size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Chunk `index`; with `readAhead`, also starts reading the next one. */
  async read(index: number, readAhead = true): Promise<Buffer> {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead && ahead.index !== index) await ahead.bytes.catch(() => undefined);
    const bytes = ahead?.index === index ? ahead.bytes : this.readNow(index);
    if (readAhead && index + 1 < chunkCount(this.size)) {
      const next = this.readNow(index + 1);
      // Awaited by the next read() or by close(); never an unhandled rejection.
      next.catch(() => undefined);
      this.ahead = { index: index + 1, bytes: next };
    }
    return bytes;
  }

  private async readNow(index: number): Promise<Buffer> {
    const length = plainChunkLength(this.size, index);
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, index * CHUNK_BYTES + done);
      if (bytesRead === 0) throw changed(this.file, this.size, index * CHUNK_BYTES + done);
      done += bytesRead;
    }
    return buffer;
  }

  async close(): Promise<void> {
    // A read still running on the handle would fail with EBADF once it is closed.
    if (this.ahead) await this.ahead.bytes.catch(() => undefined);
    this.ahead = null;
    await this.handle.close();
  }
}
