/**
 * A token bucket in bytes that may go into debt: a chunk already read is always let through and
 * the bucket goes negative; the reader then waits until the debt is paid. Over any long period
 * the bytes let through stay within `rate` per second plus one `burst`, whatever the chunk sizes.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  /** Bytes charged, and how often a charge left a debt (a pause of the reader). */
  taken = 0;
  pauses = 0;

  constructor(
    private rateValue: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = burstOf(rateValue);
    this.#last = now();
  }

  get rate(): number {
    return this.rateValue;
  }

  /** A new rate (the operator changed the limit): the tokens held stay, capped by the new burst. */
  setRate(rate: number): void {
    this.#refill();
    this.rateValue = rate;
    this.#tokens = Math.min(this.#tokens, burstOf(rate));
  }

  /** Charges `bytes`; returns the milliseconds until the bucket is out of debt (0: none). */
  take(bytes: number): number {
    this.#refill();
    this.#tokens -= bytes;
    this.taken += bytes;
    if (this.#tokens >= 0) return 0;
    this.pauses++;
    return Math.ceil((-this.#tokens * 1000) / this.rateValue);
  }

  /** Whether the bucket is full again (nothing to remember about its past). */
  isFull(): boolean {
    this.#refill();
    return this.#tokens >= burstOf(this.rateValue);
  }

  #refill(): void {
    const now = this.now();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) this.#tokens = Math.min(burstOf(this.rateValue), this.#tokens + (elapsed * this.rateValue) / 1000);
  }
}

/** One second's worth, and never less than one HTTP/2 frame. */
function burstOf(rate: number): number {
  return Math.max(rate, 16_384);
}
