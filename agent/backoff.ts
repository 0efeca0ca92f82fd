import { RECONNECT_JITTER, RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS } from '../protocol/index.js';

/**
 * Exponential reconnect delays with jitter: 100 ms, 200 ms, 400 ms … capped at 30 s, each
 * spread by ±30% so a restarted edge isn't hit by every agent in the same millisecond.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs = RECONNECT_MIN_DELAY_MS,
    private readonly maxMs = RECONNECT_MAX_DELAY_MS,
    private readonly jitter = RECONNECT_JITTER,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * The delay before the next attempt; each call grows the next one. `notBeforeMs` is a floor
   * the edge asked for (Retry-After): it wins over a shorter delay, with a little spread on top
   * so the agents it turned away do not all come back in the same second.
   */
  next(notBeforeMs = 0): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const spread = base * this.jitter * (this.random() * 2 - 1);
    const delay = Math.max(0, Math.round(Math.min(this.maxMs, base + spread)));
    if (notBeforeMs <= delay) return delay;
    return Math.round(notBeforeMs * (1 + this.jitter * this.random()));
  }

  /** Back to the first delay (after a connection that worked). */
  reset(): void {
    this.attempt = 0;
  }
}
