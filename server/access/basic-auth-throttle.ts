import { AuthFailureThrottle } from '../accounts/auth-failure-throttle.js';

/**
 * Wrong `--basic-auth` passwords one network may send to any route of this edge: 10 in a row,
 * then one every 6 s (10 a minute). A person mistyping never comes close; a guesser gets 14,400
 * tries a day per network against passwords people choose for a NAS page, and each try costs a
 * new connection (the agent closes after a 401).
 */
export const BASIC_AUTH_NETWORK_LIMITS = { burst: 10, refillMs: 6_000 } as const;
/**
 * Wrong passwords all networks together may send to this edge: 100 in a row, then 20 a second.
 * Each costs the edge one scrypt (protocol/route-access.ts BASIC_AUTH_KDF, ~4-16 ms), so a
 * botnet can hold at most a third of a core on checks; while it is spent, only credentials
 * already accepted (a SHA-256 look-up) still pass.
 */
export const BASIC_AUTH_GLOBAL_LIMITS = { burst: 100, perSecond: 20 } as const;

/** What the throttle says about one visitor's attempt. */
export type ThrottleVerdict =
  /** May be checked (one scrypt). */
  | { kind: 'check' }
  /** Only credentials already accepted may pass: the edge-wide budget is spent. */
  | { kind: 'cached-only'; retryAfterSeconds: number }
  /** This network is over its budget: 429, whatever it sent. */
  | { kind: 'throttled'; retryAfterSeconds: number };

/**
 * The edge's budget of wrong `--basic-auth` passwords, per client network (protocol
 * network-prefix.ts: an IPv4 address or an IPv6 /64) and for everyone together, shared by all
 * routes of the edge (server/accounts/auth-failure-throttle.ts token buckets). Kept in memory:
 * each edge limits the guesses it sees (a gap when several edges serve one zone).
 */
export class BasicAuthThrottle {
  private readonly perNetwork: AuthFailureThrottle;
  private readonly everyone: AuthFailureThrottle;

  constructor(
    network: { burst: number; refillMs: number } = BASIC_AUTH_NETWORK_LIMITS,
    global: { burst: number; perSecond: number } = BASIC_AUTH_GLOBAL_LIMITS,
    now: () => number = Date.now,
  ) {
    this.perNetwork = new AuthFailureThrottle({ ...network, globalBurst: Number.MAX_SAFE_INTEGER, globalPerSecond: 1e9 }, now);
    // One "network" for everyone: the per-network bucket of this one is the edge-wide budget.
    this.everyone = new AuthFailureThrottle({ burst: global.burst, refillMs: 1000 / global.perSecond, globalBurst: Number.MAX_SAFE_INTEGER, globalPerSecond: 1e9, maxNetworks: 1 }, now);
  }

  /** Whether `address` may have a password checked now. */
  verdict(address: string): ThrottleVerdict {
    const own = this.perNetwork.retryAfterSeconds(address);
    if (own > 0) return { kind: 'throttled', retryAfterSeconds: own };
    const all = this.everyone.retryAfterSeconds(EVERYONE);
    return all > 0 ? { kind: 'cached-only', retryAfterSeconds: all } : { kind: 'check' };
  }

  /** Counts one wrong password from `address`. */
  recordFailure(address: string): void {
    this.perNetwork.recordFailure(address);
    this.everyone.recordFailure(EVERYONE);
  }
}

const EVERYONE = 'everyone';
