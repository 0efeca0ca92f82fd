/**
 * A token bucket that goes into debt instead of refusing: `take` always succeeds and says how
 * long the caller must wait before its work would have been within the rate. The index sync
 * holds back an agent's acknowledgement that long, so the agent slows down (its window of
 * INDEX_WINDOW unacknowledged batches is full) without anything being refused or lost.
 *
 * The rate is read on every call, so a reload of `--index-rate-*` applies to live tunnels.
 */
export class DebtBucket {
  private level: number;
  private updatedAt: number;

  /**
   * @param rate units per second, read on every call
   * @param burstSeconds how many seconds of the rate may go at once after an idle while
   */
  constructor(private readonly rate: () => number, private readonly burstSeconds: number, private readonly now: () => number = () => performance.now()) {
    this.level = rate() * burstSeconds;
    this.updatedAt = now();
  }

  /** Takes `units` and returns the milliseconds to wait until the bucket is out of debt (0 when it is not in debt). */
  take(units: number): number {
    this.refill();
    this.level -= units;
    return this.debt();
  }

  /** Milliseconds until the bucket is out of debt, without taking anything. */
  debtMs(): number {
    this.refill();
    return this.debt();
  }

  /** True when the bucket holds its whole burst again: forgetting it now loses nothing. */
  isFull(): boolean {
    this.refill();
    return this.level >= this.rate() * this.burstSeconds;
  }

  private debt(): number {
    return this.level >= 0 ? 0 : Math.ceil((-this.level / this.rate()) * 1000);
  }

  private refill(): void {
    const now = this.now();
    const rate = this.rate();
    this.level = Math.min(rate * this.burstSeconds, this.level + ((now - this.updatedAt) / 1000) * rate);
    this.updatedAt = now;
  }
}
