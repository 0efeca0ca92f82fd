import type { Logger } from '../logger.js';
import type { Escrow } from './escrow.js';

/**
 * The longest an edge sleeps between two sweeps, whatever the deadlines it knows of: sales made
 * by other edges on the same database (whose deadlines this edge is not told about, and whose
 * offers its sellers may have to be asked for) are looked at within this long.
 */
export const SALE_SWEEP_MAX_INTERVAL_MS = 5_000;
/** After a round that left a sale past its deadline (a failed end), the next one comes this much later. */
const RETRY_MS = 1_000;

/**
 * Ends sales past their deadline (offering → failed, reserved → refunded, released → settled):
 * at start (a restarted edge finishes what its crash left), then at the earliest deadline of an
 * open sale, and at least every {@link SALE_SWEEP_MAX_INTERVAL_MS}; then asks this edge's
 * sellers for offers of sales made on other edges (Escrow.requestPending). Between deadlines it
 * sleeps: every deadline written through this edge's store re-arms it when it comes sooner.
 * Each sale moves in its own compare-and-set transaction, so several edges sweeping one database
 * move it once.
 */
export class SaleSweeper {
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (ms since the epoch); Infinity when none is armed. */
  private wakeAt = Number.POSITIVE_INFINITY;
  /** The earliest deadline told while a round ran: the round's own look may have missed it. */
  private toldDuringRound = Number.POSITIVE_INFINITY;
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly unwatch: () => void;

  constructor(
    private readonly escrow: Pick<Escrow, 'sweep' | 'requestPending' | 'nextDeadline' | 'watchDeadlines'>,
    private readonly logger: Logger,
    private readonly maxIntervalMs: number = SALE_SWEEP_MAX_INTERVAL_MS,
  ) {
    this.unwatch = escrow.watchDeadlines((deadlineMs) => this.deadlineAt(deadlineMs));
    void this.sweepNow();
  }

  /** When the next round is due (ms since the epoch), for tests and diagnostics. */
  get nextRoundAt(): number {
    return this.wakeAt;
  }

  /** A sale's deadline was set to `deadlineMs`: sweep then, unless a round comes sooner. */
  deadlineAt(deadlineMs: number): void {
    if (this.closed) return;
    if (this.running !== null) this.toldDuringRound = Math.min(this.toldDuringRound, deadlineMs);
    // A sale is due once its deadline is at or before now: wake just after it.
    else if (deadlineMs + 1 < this.wakeAt) this.arm(deadlineMs + 1);
  }

  /** One round (skipped while the previous one runs); resolves when it is done. */
  sweepNow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.running ??= (async () => {
      let next = Date.now() + RETRY_MS;
      try {
        // Batches until nothing is due: a restart after a long outage may find many.
        while (!this.closed && (await this.escrow.sweep()) > 0);
        if (!this.closed) await this.escrow.requestPending();
        if (!this.closed) {
          const deadline = await this.escrow.nextDeadline();
          const now = Date.now();
          // A deadline already past after a full round: a sale could not be ended, try again soon.
          next = deadline === null ? Number.POSITIVE_INFINITY : deadline < now ? now + RETRY_MS : deadline + 1;
        }
      } catch (error) {
        this.logger.warn({ err: error }, 'sale sweep failed: trying again in a second');
      } finally {
        this.running = null;
      }
      const told = this.toldDuringRound;
      this.toldDuringRound = Number.POSITIVE_INFINITY;
      this.arm(Math.min(next, told + 1, Date.now() + this.maxIntervalMs));
    })();
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unwatch();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private arm(at: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wakeAt = Number.POSITIVE_INFINITY;
      void this.sweepNow();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }
}
