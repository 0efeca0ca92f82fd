import { networkOf } from '../../protocol/index.js';

/** Wrong passwords one address may try per window. */
const PER_ADDRESS = 5;
/** Wrong passwords all addresses together may try per window (a botnet spreads its guesses). */
const PER_SHARE = 100;
const WINDOW_MS = 60_000;
/** Addresses remembered at most; the oldest windows are dropped first. */
const MAX_TRACKED = 10_000;

interface Window {
  startMs: number;
  failures: number;
}

/**
 * Rate limit for password guesses on one share: after 5 wrong tries from an address (or 100
 * from everyone) within a minute, further attempts get 429 until that minute is over. A right
 * password never counts. With 5 guesses a minute a 10-character random password outlives us all.
 */
export class PasswordThrottle {
  private readonly byAddress = new Map<string, Window>();
  private readonly share: Window = { startMs: 0, failures: 0 };

  /** Seconds to wait before `address` may try again, or 0 when it may try now. */
  retryAfterSeconds(address: string, nowMs = Date.now()): number {
    const own = this.byAddress.get(networkOf(address));
    const waits = [this.wait(own, PER_ADDRESS, nowMs), this.wait(this.share, PER_SHARE, nowMs)];
    return Math.max(...waits);
  }

  /** Counts one wrong password from `address`. */
  recordFailure(visitorAddress: string, nowMs = Date.now()): void {
    const address = networkOf(visitorAddress);
    let own = this.byAddress.get(address);
    if (!own || nowMs - own.startMs >= WINDOW_MS) {
      own = { startMs: nowMs, failures: 0 };
      this.byAddress.delete(address);
      this.byAddress.set(address, own);
      if (this.byAddress.size > MAX_TRACKED) this.byAddress.delete(this.byAddress.keys().next().value!);
    }
    own.failures++;
    if (nowMs - this.share.startMs >= WINDOW_MS) Object.assign(this.share, { startMs: nowMs, failures: 0 });
    this.share.failures++;
  }

  private wait(window: Window | undefined, limit: number, nowMs: number): number {
    if (!window || window.failures < limit) return 0;
    const left = window.startMs + WINDOW_MS - nowMs;
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }
}
