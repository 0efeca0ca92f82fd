import { RECONNECT_JITTER, RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS } from '../protocol/index.js';

/**
 * The longest wait while the edge refuses or resets connections: it is down or restarting, and
 * a refused connection costs it nothing, so the agent is back within about a second of it.
 * Longer waits (up to the 30 s cap) stay for failures that cost something or may last (time-outs,
 * an HTTP error, a name that does not resolve). An edge restart used to cost agents 4.6 s after
 * it listened again, their backoff having grown to 7.8 s while it was down.
 */
export const EDGE_DOWN_MAX_DELAY_MS = 1000;

/**
 * Exponential reconnect delays with jitter: 100 ms, 200 ms, 400 ms … capped at 30 s, each
 * spread by ±30% so a restarted edge isn't hit by every agent in the same millisecond; capped
 * at {@link EDGE_DOWN_MAX_DELAY_MS} while the edge is down.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs = RECONNECT_MIN_DELAY_MS,
    private readonly maxMs = RECONNECT_MAX_DELAY_MS,
    private readonly jitter = RECONNECT_JITTER,
    private readonly random: () => number = Math.random,
    private readonly edgeDownMaxMs = EDGE_DOWN_MAX_DELAY_MS,
  ) {}

  /**
   * The delay before the next attempt; each call grows the next one. `notBeforeMs` is a floor
   * the edge asked for (Retry-After): it wins over a shorter delay, with a little spread on top
   * so the agents it turned away do not all come back in the same second. `edgeDown`: the last
   * attempt was refused or reset, so the delay stays at most {@link EDGE_DOWN_MAX_DELAY_MS}
   * (spread below it, never above); the attempts still count, for the failures that follow.
   */
  next(notBeforeMs = 0, edgeDown = false): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const spread = base * this.jitter * (this.random() * 2 - 1);
    let delay = Math.max(0, Math.round(Math.min(this.maxMs, base + spread)));
    if (edgeDown && delay > this.edgeDownMaxMs) delay = Math.round(this.edgeDownMaxMs * (1 - this.jitter * this.random()));
    if (notBeforeMs <= delay) return delay;
    return Math.round(notBeforeMs * (1 + this.jitter * this.random()));
  }

  /** Back to the first delay (after a connection that worked). */
  reset(): void {
    this.attempt = 0;
  }
}
