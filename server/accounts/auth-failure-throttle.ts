import { networkOf } from '../../protocol/index.js';

/** How many failed token checks a network, and all networks together, may make. */
export interface AuthFailureLimits {
  /** Failures one network may make in a row before it is throttled. */
  readonly burst: number;
  /** Then one more failure per this many ms for that network. */
  readonly refillMs: number;
  /** Failures all networks together may make in a row (a botnet spreads its guesses). */
  readonly globalBurst: number;
  /** Then this many more failures per second across all networks. */
  readonly globalPerSecond: number;
  /** Networks remembered at most; the least recently seen is forgotten first. */
  readonly maxNetworks: number;
}

/**
 * 20 wrong tokens in a row, then one every 5 s (12 a minute) per network; 200 in a row, then
 * 50 a second, for everyone together. A person mistyping or a router with an old password
 * never comes close; a flood of 900 a second from one address makes about one lookup in 5 s.
 * See docs/decisions.md (token check throttle) for the measurements.
 */
export const AUTH_FAILURE_LIMITS: AuthFailureLimits = {
  burst: 20,
  refillMs: 5_000,
  globalBurst: 200,
  globalPerSecond: 50,
  maxNetworks: 10_000,
};

/** A token bucket: `level` failures left at `atMs`, refilled lazily when read. */
interface Bucket {
  level: number;
  atMs: number;
}

/**
 * Counts failed token checks per client network (`networkOf`: an IPv4 address or an IPv6 /64)
 * and for all networks together, as token buckets. A network with nothing left is throttled
 * until its bucket refills one failure; so is everyone while the global bucket is empty.
 * Buckets that refilled completely are forgotten, and at most `maxNetworks` are kept (least
 * recently used first out), so memory stays bounded whatever the number of guessers.
 */
export class AuthFailureThrottle {
  readonly limits: AuthFailureLimits;
  private readonly networks = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(limits: Partial<AuthFailureLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...AUTH_FAILURE_LIMITS, ...limits };
    this.global = { level: this.limits.globalBurst, atMs: now() };
  }

  /** Seconds before `address` may have a token checked again, or 0 when it may now. */
  retryAfterSeconds(address: string): number {
    const nowMs = this.now();
    const own = this.networks.get(networkOf(address));
    const ownWaitMs = own === undefined ? 0 : this.waitMs(own, this.limits.burst, this.limits.refillMs, nowMs);
    const globalWaitMs = this.waitMs(this.global, this.limits.globalBurst, 1000 / this.limits.globalPerSecond, nowMs);
    const waitMs = Math.max(ownWaitMs, globalWaitMs);
    return waitMs === 0 ? 0 : Math.max(1, Math.ceil(waitMs / 1000));
  }

  /**
   * Counts one failure of `address`. Taken before a lookup that may fail (and given back when
   * it succeeds), so concurrent guesses cannot run past the budget while lookups are pending.
   */
  recordFailure(address: string): void {
    const nowMs = this.now();
    const network = networkOf(address);
    const own = this.networks.get(network);
    const bucket = own ?? { level: this.limits.burst, atMs: nowMs };
    this.take(bucket, this.limits.burst, this.limits.refillMs, nowMs);
    this.take(this.global, this.limits.globalBurst, 1000 / this.limits.globalPerSecond, nowMs);
    // Re-inserting keeps the Map in least-recently-used order.
    if (own !== undefined) this.networks.delete(network);
    this.networks.set(network, bucket);
    this.forgetIdle(nowMs);
  }

  /** Takes back a failure counted before a lookup that then succeeded or could not be made. */
  forgive(address: string): void {
    const nowMs = this.now();
    const network = networkOf(address);
    const own = this.networks.get(network);
    if (own !== undefined) {
      this.refill(own, this.limits.burst, this.limits.refillMs, nowMs);
      own.level = Math.min(this.limits.burst, own.level + 1);
      if (own.level >= this.limits.burst) this.networks.delete(network);
    }
    this.refill(this.global, this.limits.globalBurst, 1000 / this.limits.globalPerSecond, nowMs);
    this.global.level = Math.min(this.limits.globalBurst, this.global.level + 1);
  }

  /** Networks with failures still remembered. */
  get trackedNetworks(): number {
    return this.networks.size;
  }

  private refill(bucket: Bucket, burst: number, refillMs: number, nowMs: number): void {
    if (nowMs > bucket.atMs) bucket.level = Math.min(burst, bucket.level + (nowMs - bucket.atMs) / refillMs);
    bucket.atMs = Math.max(bucket.atMs, nowMs);
  }

  private take(bucket: Bucket, burst: number, refillMs: number, nowMs: number): void {
    this.refill(bucket, burst, refillMs, nowMs);
    bucket.level = Math.max(0, bucket.level - 1);
  }

  private waitMs(bucket: Bucket, burst: number, refillMs: number, nowMs: number): number {
    const elapsed = Math.max(0, nowMs - bucket.atMs);
    const level = Math.min(burst, bucket.level + elapsed / refillMs);
    return level >= 1 ? 0 : (1 - level) * refillMs;
  }

  /** Drops the oldest entries while they are full again (a network that stopped failing) or too many. */
  private forgetIdle(nowMs: number): void {
    for (const [network, bucket] of this.networks) {
      const full = bucket.level + (nowMs - bucket.atMs) / this.limits.refillMs >= this.limits.burst;
      if (!full && this.networks.size <= this.limits.maxNetworks) return;
      this.networks.delete(network);
    }
  }
}
