/*
 * A userspace stand-in for `tc netem delay` (this kernel has none): a TCP relay on loopback
 * that holds every chunk for `oneWayDelayMs` in each direction before passing it on, in order.
 * The delay counts from a chunk's arrival, so a sender that keeps the pipe full sees the
 * configured latency and no bandwidth cap: what is in flight inside the relay is simply
 * rate × delay. Buffering is bounded: when one direction's queue holds more than
 * `maxQueuedBytes`, the relay stops reading that side until the queue drains below half, and
 * it never writes faster than the receiving socket drains. A FIN is delayed like data and
 * passed on (half-close); a reset or error on either side resets the other.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface DelayProxyOptions {
  targetHost: string;
  targetPort: number;
  /** Added to each direction; a round trip through the relay gains twice this. */
  oneWayDelayMs: number;
  /** Where the relay listens; default 127.0.0.1. */
  listenHost?: string;
  /**
   * Bytes one direction of one connection may hold before the relay pauses its reader.
   * Default: room for 2 GiB/s at the configured delay, at least 8 MiB, so that the relay's
   * bound is never the bottleneck a benchmark measures.
   */
  maxQueuedBytes?: number;
}

export interface DelayProxy {
  port: number;
  close(): Promise<void>;
}

/** A chunk (or the end of the stream) and the moment it may leave. */
interface Held {
  chunk: Buffer | null;
  dueAt: number;
}

/** One direction of one relayed connection: reads `from`, writes to `to` after the delay. */
function relayDirection(from: net.Socket, to: net.Socket, delayMs: number, maxQueuedBytes: number): void {
  const queue: Held[] = [];
  let head = 0;
  let queuedBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let waitingForDrain = false;

  const schedule = (): void => {
    if (timer || waitingForDrain || head >= queue.length) return;
    const wait = Math.max(0, queue[head]!.dueAt - performance.now());
    timer = setTimeout(release, Math.ceil(wait));
  };

  // Passes on every chunk whose time has come, stopping while the receiver's buffer is full.
  const release = (): void => {
    timer = undefined;
    if (to.destroyed) return;
    const now = performance.now();
    to.cork();
    while (head < queue.length && queue[head]!.dueAt <= now) {
      const { chunk } = queue[head]!;
      head += 1;
      if (chunk === null) {
        to.end();
        break;
      }
      queuedBytes -= chunk.length;
      if (!to.write(chunk)) {
        waitingForDrain = true;
        to.once('drain', () => {
          waitingForDrain = false;
          release();
        });
        break;
      }
    }
    to.uncork();
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    if (from.isPaused() && queuedBytes < maxQueuedBytes / 2 && !from.destroyed) from.resume();
    schedule();
  };

  from.on('data', (chunk: Buffer) => {
    queue.push({ chunk, dueAt: performance.now() + delayMs });
    queuedBytes += chunk.length;
    if (queuedBytes > maxQueuedBytes) from.pause();
    schedule();
  });
  from.on('end', () => {
    queue.push({ chunk: null, dueAt: performance.now() + delayMs });
    schedule();
  });
  from.on('close', () => {
    // An orderly end has its FIN queued; anything else (reset, error) ends the pair now.
    if (!from.readableEnded && !to.destroyed) to.resetAndDestroy();
  });
  to.on('close', () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    // Nothing more can be delivered: a sender still talking learns it by a reset.
    if (!from.readableEnded && !from.destroyed) from.resetAndDestroy();
  });
}

/** Starts the relay; connections to the returned port reach targetHost:targetPort, delayed. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const delayMs = options.oneWayDelayMs;
  if (!(delayMs >= 0)) throw new Error(`oneWayDelayMs must be 0 or more, got ${delayMs}`);
  const maxQueuedBytes = options.maxQueuedBytes ?? Math.max(8 * 1024 * 1024, Math.ceil(delayMs * 2 * 1024 * 1024));
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (visitor) => {
    track(visitor);
    const target = net.connect({ host: options.targetHost, port: options.targetPort, allowHalfOpen: true, noDelay: true });
    track(target);
    // Errors show up as 'close' without a clean end, which destroys the other side.
    visitor.on('error', () => {});
    target.on('error', () => {});
    relayDirection(visitor, target, delayMs, maxQueuedBytes);
    relayDirection(target, visitor, delayMs, maxQueuedBytes);
  });
  server.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.listenHost ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
