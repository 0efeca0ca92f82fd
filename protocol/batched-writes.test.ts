import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../test/helpers/eventually.js';
import { BATCH_LIMIT_BYTES, BatchedWriter, pipeBatched } from './batched-writes.js';

const KiB = 1024;

/** A connected pair of real loopback sockets; `received` collects what the far end read. */
async function socketPair(cleanups: Array<() => unknown>) {
  let far: net.Socket | undefined;
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    far = socket;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const near = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, noDelay: true });
  near.on('error', () => {});
  await new Promise((resolve) => near.once('connect', resolve));
  const farSocket = await eventually('the far socket', () => far);
  cleanups.push(() => { near.destroy(); farSocket.destroy(); server.close(); });
  return { near, far: farSocket };
}

function sha256(...chunks: Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** Reads `socket` until `length` bytes came; resolves with their SHA-256. */
function readSha256(socket: net.Socket, length: number): Promise<string> {
  const hash = createHash('sha256');
  let got = 0;
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
      if (got >= length) resolve(hash.digest('hex'));
    });
  });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BatchedWriter', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('sends a single small write at once, not at the end of the turn', async () => {
    const { near, far } = await socketPair(cleanups);
    const writer = new BatchedWriter(near);
    const got = readSha256(far, 5);
    expect(writer.write(Buffer.from('hello'))).toBe(true);
    // Handed to the kernel in this very call: nothing corked, nothing left in Node's buffer.
    expect(near.writableCorked).toBe(0);
    expect(near.writableLength).toBe(0);
    expect(await got).toBe(sha256(Buffer.from('hello')));
  });

  it('holds the full frames of one turn and sends them together, bytes in order', async () => {
    const { near, far } = await socketPair(cleanups);
    const writer = new BatchedWriter(near);
    const chunks = Array.from({ length: 6 }, () => randomBytes(16 * KiB));
    const got = readSha256(far, 6 * 16 * KiB);
    for (const chunk of chunks) expect(writer.write(chunk)).toBe(true);
    // Corked for the rest of the turn: all six wait in Node's buffer for one writev.
    expect(near.writableCorked).toBe(1);
    expect(near.writableLength).toBe(6 * 16 * KiB);
    await nextTurn();
    expect(near.writableCorked).toBe(0);
    expect(await got).toBe(sha256(...chunks));
  });

  it('keeps exact bytes across chunk boundaries and turns (random sizes, small and bulk mixed)', async () => {
    const { near, far } = await socketPair(cleanups);
    const writer = new BatchedWriter(near);
    const sent: Buffer[] = [];
    let total = 0;
    for (let turn = 0; turn < 40; turn += 1) {
      const perTurn = 1 + (turn % 7);
      for (let i = 0; i < perTurn; i += 1) {
        const size = [1, 100, 16 * KiB, 16 * KiB - 1, 5000, 16 * KiB + 3][(turn + i) % 6]!;
        sent.push(randomBytes(size));
        total += size;
      }
    }
    const got = readSha256(far, total);
    let index = 0;
    for (let turn = 0; turn < 40; turn += 1) {
      const perTurn = 1 + (turn % 7);
      for (let i = 0; i < perTurn; i += 1) {
        if (!writer.write(sent[index++]!)) await new Promise((resolve) => near.once('drain', resolve));
      }
      await nextTurn();
    }
    expect(await got).toBe(sha256(...sent));
  });

  it('asks for a pause at its limit, and the sink drains afterwards', async () => {
    const { near, far } = await socketPair(cleanups);
    far.pause();
    const writer = new BatchedWriter(near);
    let written = 0;
    while (writer.write(Buffer.alloc(16 * KiB))) written += 16 * KiB;
    written += 16 * KiB;
    // It stopped at its limit, not at the socket's 16 KiB highWaterMark…
    expect(written).toBeGreaterThanOrEqual(BATCH_LIMIT_BYTES);
    expect(near.writableLength).toBeLessThanOrEqual(BATCH_LIMIT_BYTES + 16 * KiB);
    // …and 'drain' comes once the reader reads.
    const drained = new Promise((resolve) => near.once('drain', resolve));
    far.resume();
    await drained;
  });
});

describe('pipeBatched', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('carries 8 MiB in 16 KiB pieces exactly, and ends the sink with the source', async () => {
    const { near, far } = await socketPair(cleanups);
    const source = new PassThrough();
    pipeBatched(source, near);
    const hash = createHash('sha256');
    const pieces = 512;
    const got = new Promise<string>((resolve) => {
      const seen = createHash('sha256');
      far.on('data', (chunk: Buffer) => seen.update(chunk));
      far.on('end', () => resolve(seen.digest('hex')));
    });
    for (let i = 0; i < pieces; i += 1) {
      const piece = randomBytes(16 * KiB);
      hash.update(piece);
      if (!source.write(piece)) await new Promise((resolve) => source.once('drain', resolve));
    }
    source.end();
    expect(await got).toBe(hash.digest('hex'));
  });

  it('a sink that is not read holds back the source: what waits stays bounded', async () => {
    const { near, far } = await socketPair(cleanups);
    far.pause();
    const source = new PassThrough();
    pipeBatched(source, near);
    let offered = 0;
    // Offer 64 MiB; the writes stop being accepted long before.
    const offer = async (): Promise<void> => {
      while (offered < 64 * 1024 * KiB) {
        offered += 16 * KiB;
        if (!source.write(Buffer.alloc(16 * KiB))) return;
      }
    };
    await offer();
    await eventually('the source to be paused by the stalled sink', () => (source.isPaused() ? true : undefined));
    await offer();
    // Everything offered is in bounded buffers: the sink's (its limit plus one frame), the
    // source's (its highWaterMark), and the kernel's socket buffers (a few MiB on loopback).
    expect(near.writableLength).toBeLessThanOrEqual(BATCH_LIMIT_BYTES + 16 * KiB);
    expect(offered).toBeLessThan(16 * 1024 * KiB);
    far.resume();
  });

  it('writes nothing more once the sink has closed', async () => {
    const { near } = await socketPair(cleanups);
    const source = new PassThrough();
    pipeBatched(source, near);
    near.destroy();
    await new Promise((resolve) => near.once('close', resolve));
    expect(source.listenerCount('data')).toBe(0);
  });
});
