import { EventEmitter } from 'node:events';
import { emptyBody, headLines, type CapturedExchange, type OriginAddress } from './captured-exchange.js';

/** Recent exchanges kept by default: enough to scroll back through a page load or two. */
export const DEFAULT_RING_EXCHANGES = 500;
/** Memory for heads and kept bodies, all exchanges together. */
export const DEFAULT_RING_BYTES = 32 * 1024 * 1024;
/** Body bytes kept per side of one exchange; the rest is counted and marked truncated. */
export const DEFAULT_BODY_CAP_BYTES = 64 * 1024;
/**
 * Exchanges recorded per second, after a burst of as many: far above what a person
 * clicking through a site makes, far below a load test. Recording every request of a load test
 * kept ~500 exchanges alive in the young generation, which every scavenge then copied: ~240 ms
 * of the agent's scavenges per 5 s of load against ~110 with a ring of 50, p99 12 ms against 6.5
 * (docs/decisions.md §78).
 */
export const DEFAULT_RECORD_PER_SECOND = 200;

export interface ExchangeRingLimits {
  maxExchanges: number;
  maxBytes: number;
  bodyCapBytes: number;
  /** Exchanges recorded per second, after a burst of as many; the rest are only counted. */
  recordPerSecond: number;
}

/** What a new exchange starts from (the request head). */
export interface ExchangeStart {
  route: string;
  origin: OriginAddress;
  remoteAddress: string;
  method: string;
  target: string;
  /** The request head as the origin got it: kept as it is (not copied, not parsed). */
  requestHead: Buffer;
  replayOf?: number | null;
}

/**
 * The inspector's memory: the most recent exchanges, bounded by count and by bytes (the oldest
 * go first). Emits `changed` (exchange) when one is added or updated, for live views.
 */
export class ExchangeRing extends EventEmitter {
  readonly limits: ExchangeRingLimits;
  private readonly entries = new Map<number, CapturedExchange>();
  private nextId = 1;
  private bytes = 0;
  /** Exchanges that may still be recorded now (a token bucket refilled at recordPerSecond). */
  private allowance: number;
  private allowanceAt = performance.now();
  /** Requests seen but not recorded because they came faster than recordPerSecond. */
  notRecorded = 0;

  constructor(limits: Partial<ExchangeRingLimits> = {}) {
    super();
    this.setMaxListeners(0);
    this.limits = {
      maxExchanges: limits.maxExchanges ?? DEFAULT_RING_EXCHANGES,
      maxBytes: limits.maxBytes ?? DEFAULT_RING_BYTES,
      bodyCapBytes: limits.bodyCapBytes ?? DEFAULT_BODY_CAP_BYTES,
      recordPerSecond: limits.recordPerSecond ?? DEFAULT_RECORD_PER_SECOND,
    };
    this.allowance = this.limits.recordPerSecond;
  }

  /** Exchanges held, and the bytes they hold. */
  get size(): number {
    return this.entries.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * A new exchange, recorded unless requests come faster than `recordPerSecond` (replays always
   * are). One not recorded is still returned, with id 0, so that its connection's tap can match
   * responses to requests; nothing of it is kept.
   */
  start(input: ExchangeStart): CapturedExchange {
    if ((input.replayOf ?? null) === null && !this.admit()) {
      this.notRecorded += 1;
      return new ExchangeRecord(0, input);
    }
    const exchange = new ExchangeRecord(this.nextId++, input);
    this.entries.set(exchange.id, exchange);
    this.grow(exchange, input.requestHead.length);
    this.emit('changed', exchange);
    return exchange;
  }

  get(id: number): CapturedExchange | undefined {
    return this.entries.get(id);
  }

  /** Oldest first. */
  list(): CapturedExchange[] {
    return [...this.entries.values()];
  }

  /** Counts `bytes` more held by `exchange` (a no-op once it left the ring), evicting as needed. */
  grow(exchange: CapturedExchange, bytes: number): void {
    exchange.bytes += bytes;
    if (this.entries.get(exchange.id) !== exchange) return;
    this.bytes += bytes;
    this.evict();
  }

  /** Keeps up to the body cap of `chunk` in `side`, and counts it all. */
  addBody(exchange: CapturedExchange, side: 'requestBody' | 'responseBody', chunk: Buffer): void {
    const body = exchange[side];
    body.total += chunk.length;
    if (exchange.id === 0) return;
    const room = this.limits.bodyCapBytes - body.kept;
    if (room <= 0) return;
    // A copy: the chunk's memory is the stream's and may be a slice of a much larger buffer.
    const kept = Buffer.from(chunk.subarray(0, room));
    body.chunks.push(kept);
    body.kept += kept.length;
    this.grow(exchange, kept.length);
  }

  /** Tells live views an exchange changed (status known, response ended…). */
  changed(exchange: CapturedExchange): void {
    if (this.entries.get(exchange.id) === exchange) this.emit('changed', exchange);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
    this.notRecorded = 0;
    this.emit('cleared');
  }

  private admit(): boolean {
    const now = performance.now();
    this.allowance = Math.min(this.limits.recordPerSecond, this.allowance + ((now - this.allowanceAt) / 1000) * this.limits.recordPerSecond);
    this.allowanceAt = now;
    if (this.allowance < 1) return false;
    this.allowance -= 1;
    return true;
  }

  private evict(): void {
    // The newest always stays, even alone over the byte bound (its bodies are capped anyway).
    while (this.entries.size > 1 && (this.entries.size > this.limits.maxExchanges || this.bytes > this.limits.maxBytes)) {
      const oldest = this.entries.values().next().value!;
      this.entries.delete(oldest.id);
      this.bytes -= oldest.bytes;
    }
  }
}

/** A CapturedExchange whose heads are parsed only when someone looks (the page, the API). */
class ExchangeRecord implements CapturedExchange {
  readonly startedAt = Date.now();
  readonly startedClock = performance.now();
  state: CapturedExchange['state'] = 'pending';
  error: string | null = null;
  readonly route: string;
  readonly origin: OriginAddress;
  readonly remoteAddress: string;
  readonly method: string;
  readonly target: string;
  requestHead: Buffer;
  requestBody = emptyBody();
  status: number | null = null;
  statusText = '';
  responseHead: Buffer | null = null;
  responseBody = emptyBody();
  firstByteMs: number | null = null;
  durationMs: number | null = null;
  readonly replayOf: number | null;
  upgraded = false;
  bytes = 0;
  private parsedRequest: Array<[string, string]> | null = null;
  private parsedResponse: Array<[string, string]> | null = null;

  constructor(readonly id: number, input: ExchangeStart) {
    this.route = input.route;
    this.origin = input.origin;
    this.remoteAddress = input.remoteAddress;
    this.method = input.method;
    this.target = input.target;
    this.requestHead = input.requestHead;
    this.replayOf = input.replayOf ?? null;
  }

  get httpVersion(): string {
    const lineEnd = this.requestHead.indexOf(0x0d);
    return this.requestHead.toString('latin1', 0, lineEnd === -1 ? this.requestHead.length : lineEnd).endsWith(' HTTP/1.0') ? '1.0' : '1.1';
  }

  get requestHeaders(): Array<[string, string]> {
    this.parsedRequest ??= headLines(this.requestHead);
    return this.parsedRequest;
  }

  get responseHeaders(): Array<[string, string]> {
    if (this.responseHead === null) return [];
    this.parsedResponse ??= headLines(this.responseHead);
    return this.parsedResponse;
  }
}
