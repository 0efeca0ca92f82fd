/**
 * A sliding-window allowance: at most `limit` takes per key within any `windowMs`. Keeps one
 * timestamp per take, so memory is bounded by keys × limit.
 */
export class ChangeThrottle {
  private readonly takes = new Map<string | number, number[]>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Uses one of `key`'s allowance and returns true, or returns false when none is left. */
  tryTake(key: string | number): boolean {
    const now = this.now();
    const recent = this.recent(key, now);
    if (recent.length >= this.limit) return false;
    recent.push(now);
    this.takes.set(key, recent);
    return true;
  }

  /** Takes `key` has left in the current window. */
  remaining(key: string | number): number {
    return this.limit - this.recent(key, this.now()).length;
  }

  private recent(key: string | number, now: number): number[] {
    const list = this.takes.get(key);
    if (list === undefined) return [];
    const cutoff = now - this.windowMs;
    let first = 0;
    while (first < list.length && list[first]! <= cutoff) first++;
    if (first === list.length) {
      this.takes.delete(key);
      return [];
    }
    if (first > 0) list.splice(0, first);
    return list;
  }
}
