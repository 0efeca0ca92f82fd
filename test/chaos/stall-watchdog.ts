/**
 * The bound on a hang: an operation that makes no progress (no byte, no message, no exit) for
 * `boundMs` is declared hung and broken off. Progress restarts the clock, so a long transfer
 * is fine as long as it moves; only silence counts.
 */
export class StallWatchdog {
  /** Set once the bound passed with no progress. */
  hung = false;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly boundMs: number, onHang: () => void) {
    this.timer = setTimeout(() => {
      this.hung = true;
      onHang();
    }, boundMs);
  }

  /** Something moved: the clock starts over. */
  poke(): void {
    if (!this.hung) this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
