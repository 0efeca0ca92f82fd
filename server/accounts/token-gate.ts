import { networkOf } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { AccountInfo } from './account-store.js';
import { AuthFailureThrottle, type AuthFailureLimits } from './auth-failure-throttle.js';
import { hashToken, isWellFormedToken } from './token-secret.js';

/** What the gate asks about a token: the account store, or a wrapper of it. */
export interface TokenLookup {
  authenticate(token: string): Promise<AccountInfo | null>;
}

/** The outcome of one token check at an entry point. */
export type TokenVerdict =
  | { readonly kind: 'accepted'; readonly account: AccountInfo }
  | { readonly kind: 'rejected' }
  /** Not checked: the caller's network (or everyone) made too many failed checks. */
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

/** Counters for tests and measurements. */
export interface TokenGateStats {
  /** Tokens looked up in the store (each a database query). */
  readonly lookups: number;
  /** Tokens refused as unknown, revoked or malformed. */
  readonly rejected: number;
  /** Tokens refused unchecked because the network was throttled. */
  readonly throttled: number;
}

/** Tuning, for tests; the defaults are the edge's. */
export interface TokenGateOptions {
  readonly limits?: Partial<AuthFailureLimits>;
  /** Token hashes remembered as recently valid (0 turns the memory off). */
  readonly knownTokens?: number;
  readonly knownTokenTtlMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

/** Recently valid token hashes remembered at most: ~150 bytes each. */
export const KNOWN_TOKENS = 10_000;
/** How long a token stays known after its last successful check. */
export const KNOWN_TOKEN_TTL_MS = 24 * 60 * 60_000;
/** Refusals are summed up in one log line at most this often. */
const REPORT_INTERVAL_MS = 60_000;

/**
 * The one door every token goes through at the edge's entry points (API, tunnel, dyndns2):
 * failed checks are counted per client network by an {@link AuthFailureThrottle}, and a
 * throttled network's tokens are refused without a database lookup. Malformed tokens never
 * reach the store and count as failures too.
 *
 * Valid tokens are not slowed: a token that passed a check recently (its hash is remembered,
 * never the token) is always looked up, even from a throttled network. Being known only earns
 * the lookup — the store still decides — so a token revoked from another process is refused
 * at once, and then forgotten.
 */
export class TokenGate {
  readonly throttle: AuthFailureThrottle;
  private readonly known = new Map<string, number>();
  private readonly knownLimit: number;
  private readonly knownTtlMs: number;
  private readonly now: () => number;
  private readonly logger: Logger | undefined;
  private counts = { lookups: 0, rejected: 0, throttled: 0 };
  private report = { atMs: Number.NEGATIVE_INFINITY, refusals: 0 };

  constructor(private readonly tokens: TokenLookup, options: TokenGateOptions = {}) {
    this.now = options.now ?? Date.now;
    this.throttle = new AuthFailureThrottle(options.limits, this.now);
    this.knownLimit = options.knownTokens ?? KNOWN_TOKENS;
    this.knownTtlMs = options.knownTokenTtlMs ?? KNOWN_TOKEN_TTL_MS;
    this.logger = options.logger;
  }

  /** Checks `token` presented by a client at `address` (the socket's peer). */
  async check(token: string, address: string): Promise<TokenVerdict> {
    const hash = isWellFormedToken(token) ? hashToken(token) : null;
    const known = hash !== null && this.isKnown(hash);
    if (!known) {
      const retryAfterSeconds = this.throttle.retryAfterSeconds(address);
      if (retryAfterSeconds > 0) {
        this.counts.throttled++;
        this.noteRefusal(address, retryAfterSeconds);
        return { kind: 'throttled', retryAfterSeconds };
      }
      // Counted before the lookup and forgiven after a success: concurrent guesses cannot
      // overrun the budget while their lookups are pending.
      this.throttle.recordFailure(address);
    }
    if (hash === null) {
      this.counts.rejected++;
      return { kind: 'rejected' };
    }
    let account: AccountInfo | null;
    try {
      this.counts.lookups++;
      account = await this.tokens.authenticate(token);
    } catch (error) {
      // The store failed, not the client.
      if (!known) this.throttle.forgive(address);
      throw error;
    }
    if (account === null) {
      // Known until now: revoked since. It is an ordinary failure from here on.
      if (known) {
        this.known.delete(hash);
        this.throttle.recordFailure(address);
      }
      this.counts.rejected++;
      return { kind: 'rejected' };
    }
    if (!known) this.throttle.forgive(address);
    this.remember(hash);
    return { kind: 'accepted', account };
  }

  /** Counts a failure the caller found after a good token (dyndns2: the token of another account). */
  recordFailure(address: string): void {
    this.counts.rejected++;
    this.throttle.recordFailure(address);
  }

  /** The store's answer for a token already in use (live tunnels recheck theirs), unthrottled. */
  authenticate(token: string): Promise<AccountInfo | null> {
    return this.tokens.authenticate(token);
  }

  stats(): TokenGateStats {
    return { ...this.counts };
  }

  private isKnown(hash: string): boolean {
    const expiresAt = this.known.get(hash);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.known.delete(hash);
    return false;
  }

  private remember(hash: string): void {
    if (this.knownLimit <= 0) return;
    this.known.delete(hash);
    this.known.set(hash, this.now() + this.knownTtlMs);
    if (this.known.size > this.knownLimit) this.known.delete(this.known.keys().next().value!);
  }

  /** One warn line when refusals start, then a sum at most once a minute while they go on. */
  private noteRefusal(address: string, retryAfterSeconds: number): void {
    this.report.refusals++;
    const nowMs = this.now();
    if (nowMs - this.report.atMs < REPORT_INTERVAL_MS) return;
    this.logger?.warn({ network: networkOf(address), retryAfterSeconds, refusals: this.report.refusals }, 'too many rejected tokens: checks throttled');
    this.report = { atMs: nowMs, refusals: 0 };
  }
}
