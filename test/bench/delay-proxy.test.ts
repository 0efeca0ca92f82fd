import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startDelayProxy, type DelayProxy } from '../../bench/delay-proxy.js';

/** A target that echoes every byte back and ends its side when the client ends. */
async function startEchoServer(): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, server };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** `size` bytes whose every 4-byte word is its own index: any reordering or loss shows. */
function numbered(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let word = 0; word * 4 < size; word += 1) bytes.writeUInt32BE(word, word * 4);
  return bytes;
}

describe('bench delay proxy', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function echoThroughProxy(oneWayDelayMs: number, maxQueuedBytes?: number): Promise<DelayProxy> {
    const echo = await startEchoServer();
    cleanups.push(() => new Promise<void>((resolve) => echo.server.close(() => resolve())));
    const proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echo.port, oneWayDelayMs, maxQueuedBytes });
    cleanups.push(() => proxy.close());
    return proxy;
  }

  it('delays a round trip by at least twice the one-way delay', async () => {
    const proxy = await echoThroughProxy(40);
    const socket = await connect(proxy.port);
    cleanups.push(() => void socket.destroy());
    for (let round = 0; round < 3; round += 1) {
      const sentAt = performance.now();
      const echoed = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write('ping');
      expect((await echoed).toString()).toBe('ping');
      expect(performance.now() - sentAt).toBeGreaterThanOrEqual(80);
    }
  });

  it('keeps order across many megabytes both ways and passes the end on', async () => {
    // A small queue bound makes the relay pause and resume its reader many times on the way.
    const proxy = await echoThroughProxy(5, 256 * 1024);
    const socket = await connect(proxy.port);
    cleanups.push(() => void socket.destroy());
    const sent = numbered(24 * 1024 * 1024);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise<void>((resolve) => socket.once('end', resolve));
    for (let offset = 0; offset < sent.length; offset += 100_000) socket.write(sent.subarray(offset, offset + 100_000));
    // Our FIN reaches the echo server, which then ends its side: that end comes back to us.
    socket.end();
    await ended;
    expect(Buffer.concat(received).equals(sent)).toBe(true);
  });

  it('resets the client when the target resets', async () => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.resetAndDestroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: (server.address() as net.AddressInfo).port, oneWayDelayMs: 5 });
    cleanups.push(() => proxy.close());
    const socket = await connect(proxy.port);
    socket.on('error', () => {});
    const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(socket.readableEnded)));
    socket.write('hello');
    expect(await closed).toBe(false);
  });
});
