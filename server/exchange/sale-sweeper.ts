import type { Logger } from '../logger.js';
import type { Escrow } from './escrow.js';

/** How often every edge looks for sales past their deadline. */
export const SALE_SWEEP_INTERVAL_MS = 1_000;

/**
 * Ends sales past their deadline (offering → failed, reserved → refunded, released → settled):
 * at start (a restarted edge finishes what its crash left) and every second; then asks this
 * edge's sellers for offers of sales made on other edges (Escrow.requestPending). Each sale moves in
 * its own compare-and-set transaction, so several edges sweeping one database move it once.
 */
export class SaleSweeper {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly escrow: Pick<Escrow, 'sweep' | 'requestPending'>, private readonly logger: Logger, intervalMs: number = SALE_SWEEP_INTERVAL_MS) {
    this.timer = setInterval(() => void this.sweepNow(), intervalMs);
    this.timer.unref();
    void this.sweepNow();
  }

  /** One round (skipped while the previous one runs); resolves when it is done. */
  sweepNow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.running ??= (async () => {
      try {
        // Batches until nothing is due: a restart after a long outage may find many.
        while (!this.closed && (await this.escrow.sweep()) > 0);
        if (!this.closed) await this.escrow.requestPending();
      } catch (error) {
        this.logger.warn({ err: error }, 'sale sweep failed: trying again in a second');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }
}
