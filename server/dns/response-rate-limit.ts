import net from 'node:net';
import { isLoopback, networkOf, type PrefixBits } from '../../protocol/network-prefix.js';

/**
 * How UDP responses are rate-limited per source network, so that nobody can aim the edge's
 * answers at a victim by spoofing its address (DNS amplification). TCP needs no limit: its
 * handshake proves the source.
 */
export interface RateLimitSettings {
  /** Responses per second each source network gets once its burst is spent. */
  responsesPerSecond: number;
  /** Responses a quiet source network may get at once (the bucket's size). */
  burst: number;
  /**
   * Every `slip`-th response over the limit is sent as a small TC=1 answer instead of being
   * dropped, so a real client behind a busy network retries over TCP rather than timing out
   * (BIND's "slip"); 0 drops them all, 1 truncates them all.
   */
  slip: number;
  /** Source networks tracked at most; the least recently seen is forgotten first. */
  maxSources: number;
  /** Leave 127.0.0.0/8 and ::1 alone: they cannot be spoofed from outside the host. */
  exemptLoopback: boolean;
}

/**
 * Defaults: 20 responses/s after a burst of 40 per /24 (IPv4) or /56 (IPv6) — several
 * resolvers' worth of traffic for a zone whose answers live 60 s, while a spoofed flood yields
 * at most 20 answers/s per victim network; half of the rest become TC=1 answers (a ~60-byte
 * reply to a ~40-byte query: no amplification). 65,536 tracked networks cost ~10 MB at most.
 */
export const RATE_LIMIT_DEFAULTS: Readonly<RateLimitSettings> = Object.freeze({
  responsesPerSecond: 20,
  burst: 40,
  slip: 2,
  maxSources: 65_536,
  exemptLoopback: true,
});

/** Leading bits of a source that make one rate-limited network: an IPv4 /24, an IPv6 /56 (a typical site). */
export const DNS_SOURCE_NETWORK: PrefixBits = { ipv4: 24, ipv6: 56 };
/** Idle buckets forgotten per decision, so sweeping never costs more than a few steps. */
const SWEEP_PER_DECISION = 4;

/** What to do with one UDP response. */
export type RateDecision = 'send' | 'slip' | 'drop';

interface Bucket {
  tokens: number;
  /** Clock reading when `tokens` was last brought up to date. */
  updatedAt: number;
  /** Responses refused since the bucket last had a token, for the slip count. */
  refused: number;
}

/**
 * The network a source address belongs to for rate limiting (`192.0.2.0/24`, `2001:db8:aa:bb00::/56`),
 * or null for loopback when `exemptLoopback`. IPv4-mapped IPv6 addresses count as IPv4.
 */
export function sourceNetwork(address: string, exemptLoopback: boolean): string | null {
  if (exemptLoopback && isLoopback(address)) return null;
  return networkOf(address, DNS_SOURCE_NETWORK);
}

/**
 * A token bucket per source network. Memory is bounded: buckets live in a Map kept in
 * least-recently-seen order, a bucket that has had time to refill completely is the same as no
 * bucket and is forgotten, and past `maxSources` the least recently seen one is dropped.
 */
export class ResponseRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Milliseconds a bucket needs to refill from empty: idle that long, it can be forgotten. */
  private readonly refillMs: number;

  /** @param now monotonic clock in milliseconds; tests pass a fake one */
  constructor(readonly settings: Readonly<RateLimitSettings>, private readonly now: () => number) {
    this.refillMs = (settings.burst / settings.responsesPerSecond) * 1000;
  }

  /** Networks currently tracked. */
  get trackedSources(): number {
    return this.buckets.size;
  }

  /** Takes a token for one response to `address`, saying whether to send, slip or drop it. */
  decide(address: string): RateDecision {
    const network = sourceNetwork(address, this.settings.exemptLoopback);
    if (network === null) return 'send';
    const now = this.now();
    this.sweep(now);

    let bucket = this.buckets.get(network);
    if (bucket === undefined) {
      if (this.buckets.size >= this.settings.maxSources) this.evictOldest();
      bucket = { tokens: this.settings.burst, updatedAt: now, refused: 0 };
    } else {
      // Re-inserting moves it to the end: the Map's order is least recently seen first.
      this.buckets.delete(network);
      const elapsed = Math.max(0, now - bucket.updatedAt);
      bucket.tokens = Math.min(this.settings.burst, bucket.tokens + (elapsed * this.settings.responsesPerSecond) / 1000);
      bucket.updatedAt = now;
    }
    this.buckets.set(network, bucket);

    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refused = 0;
      return 'send';
    }
    bucket.refused += 1;
    const { slip } = this.settings;
    return slip > 0 && bucket.refused % slip === 0 ? 'slip' : 'drop';
  }

  private sweep(now: number): void {
    let budget = SWEEP_PER_DECISION;
    for (const [network, bucket] of this.buckets) {
      if (budget-- === 0 || now - bucket.updatedAt < this.refillMs) return;
      this.buckets.delete(network);
    }
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (oldest.done !== true) this.buckets.delete(oldest.value);
  }
}
