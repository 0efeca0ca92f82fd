import pino, { type Logger } from 'pino';
import type { EventEmitter } from 'node:events';

/** What this needs of a pino destination (sonic-boom). */
interface Destination extends EventEmitter {
  end(): void;
  /** sonic-boom's: a write to the file descriptor has not come back yet. */
  _writing?: boolean;
}

function destinationOf(logger: Logger): Destination | undefined {
  return (logger as unknown as Record<symbol, Destination | undefined>)[pino.symbols.streamSym];
}

/**
 * Resolves once every line logged so far is out (or writing failed), so what the CLI prints
 * next on the terminal comes after them, not in between: the edge's banner follows its
 * "listening" lines. pino's own `flush(cb)` does not wait for an async destination's writes.
 */
export function logWritten(logger: Logger): Promise<void> {
  const stream = destinationOf(logger);
  if (stream === undefined || stream._writing !== true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('error', done);
    stream.once('close', done);
  });
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
  const stream = destinationOf(logger);
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
