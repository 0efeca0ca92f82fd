import type { Readable, Writable } from 'node:stream';
import type { TokenBucket } from './token-bucket.js';

/** Which way bytes go through a visitor connection. */
export const UP = 0; // visitor → PC
export const DOWN = 1; // PC → visitor
export type Direction = typeof UP | typeof DOWN;

/**
 * Shapes one visitor connection's bridged bytes with its buckets (its route's, inside its
 * account's): after each chunk is passed on, the chunk is charged to every bucket; when one is
 * in debt, the side the chunk came from is paused until the debt is paid. Pausing is the
 * backpressure: the visitor's TCP window (upstream) or HTTP/2 flow control to the agent
 * (downstream) fills, nothing is buffered here.
 */
export class ConnectionShaper {
  readonly #timers: [NodeJS.Timeout | null, NodeJS.Timeout | null] = [null, null];
  #closed = false;

  constructor(private readonly buckets: readonly TokenBucket[]) {}

  /**
   * Charges a chunk that went from `source` to `destination`. The source resumes after the wait
   * unless the destination is full (its 'drain' resumes it then, as before).
   */
  charge(direction: Direction, bytes: number, source: Readable, destination: Writable): void {
    let wait = 0;
    for (const bucket of this.buckets) wait = Math.max(wait, bucket.take(bytes));
    if (wait === 0 || this.#closed) return;
    source.pause();
    const previous = this.#timers[direction];
    if (previous !== null) clearTimeout(previous);
    this.#timers[direction] = setTimeout(() => {
      this.#timers[direction] = null;
      if (!destination.writableNeedDrain && !source.destroyed) source.resume();
    }, wait);
  }

  /** Whether the shaper holds this direction paused (a 'drain' must not resume it then). */
  holds(direction: Direction): boolean {
    return this.#timers[direction] !== null;
  }

  /** The connection ended: no timer outlives it. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) if (timer !== null) clearTimeout(timer);
    this.#timers[0] = this.#timers[1] = null;
  }
}
