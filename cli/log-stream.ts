import pino, { type Logger } from 'pino';
import type { EventEmitter } from 'node:events';

/** What this needs of a pino destination (sonic-boom). */
interface Destination extends EventEmitter {
  end(): void;
}

/**
 * Ends a pino logger's destination and resolves once its last line is out or writing failed,
 * so `process.exit` right after loses nothing and cannot hang. Why: pino flushes an async
 * destination synchronously when the process exits, and sonic-boom's flushSync retries a write
 * that failed with EPIPE every 100 ms, forever: an edge whose output went into `head` never
 * exited on SIGTERM. Ended first, the stream either writes everything (nothing is left for the
 * exit hook) or meets EPIPE asynchronously, after which pino turns its writes, and that exit
 * flush, into no-ops.
 */
export function endLogStream(logger: Logger): Promise<void> {
  const stream = (logger as unknown as Record<symbol, Destination | undefined>)[pino.symbols.streamSym];
  if (stream === undefined || typeof stream.end !== 'function') return Promise.resolve();
  // Already disarmed by pino after an earlier EPIPE: end() is a no-op that would never settle.
  const own = Object.getPrototypeOf(stream) as Partial<Destination>;
  if (stream.end !== own.end) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.once('close', done);
    stream.once('error', done);
    stream.end();
  });
}
