import { AuthFailureThrottle, type AuthFailureLimits } from '../accounts/auth-failure-throttle.js';

/**
 * Anonymous searches (`--search public`) a network may make: 30 in a row, then one every 2 s
 * (30 a minute) per network (an IPv4 address or an IPv6 /64); 300 in a row, then 20 a second,
 * for all anonymous visitors together, so a botnet cannot keep the database busy either. A
 * person typing and paging never comes close (a page is one search). Members are accountable
 * through their token and are not counted here.
 */
export const ANONYMOUS_SEARCH_LIMITS: AuthFailureLimits = {
  burst: 30,
  refillMs: 2_000,
  globalBurst: 300,
  globalPerSecond: 20,
  maxNetworks: 10_000,
};

/**
 * Per-network allowance of anonymous searches. The token-check throttle's buckets are exactly
 * this (per network and global, bounded memory, least recently used forgotten first), so they
 * are reused: a "failure" there is a search here.
 */
export class SearchThrottle {
  private readonly buckets: AuthFailureThrottle;

  constructor(limits: Partial<AuthFailureLimits> = {}, now: () => number = Date.now) {
    this.buckets = new AuthFailureThrottle({ ...ANONYMOUS_SEARCH_LIMITS, ...limits }, now);
  }

  /** Takes one search for `address` and returns 0, or the seconds to wait when none is left (nothing taken). */
  take(address: string): number {
    const wait = this.buckets.retryAfterSeconds(address);
    if (wait > 0) return wait;
    this.buckets.recordFailure(address);
    return 0;
  }
}
