import { EventEmitter } from 'node:events';
import { emptyBody, type CapturedExchange, type OriginAddress } from './captured-exchange.js';

/** Recent exchanges kept by default: enough to scroll back through a page load or two. */
export const DEFAULT_RING_EXCHANGES = 500;
/** Memory for heads and kept bodies, all exchanges together. */
export const DEFAULT_RING_BYTES = 32 * 1024 * 1024;
/** Body bytes kept per side of one exchange; the rest is counted and marked truncated. */
export const DEFAULT_BODY_CAP_BYTES = 64 * 1024;

export interface ExchangeRingLimits {
  maxExchanges: number;
  maxBytes: number;
  bodyCapBytes: number;
}

/** What a new exchange starts from (the request head). */
export interface ExchangeStart {
  route: string;
  origin: OriginAddress;
  remoteAddress: string;
  method: string;
  target: string;
  httpVersion: string;
  requestHeaders: Array<[string, string]>;
  headBytes: number;
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

  constructor(limits: Partial<ExchangeRingLimits> = {}) {
    super();
    this.setMaxListeners(0);
    this.limits = {
      maxExchanges: limits.maxExchanges ?? DEFAULT_RING_EXCHANGES,
      maxBytes: limits.maxBytes ?? DEFAULT_RING_BYTES,
      bodyCapBytes: limits.bodyCapBytes ?? DEFAULT_BODY_CAP_BYTES,
    };
  }

  /** Exchanges held, and the bytes they hold. */
  get size(): number {
    return this.entries.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  start(input: ExchangeStart): CapturedExchange {
    const exchange: CapturedExchange = {
      id: this.nextId++,
      startedAt: Date.now(),
      startedClock: performance.now(),
      state: 'pending',
      error: null,
      route: input.route,
      origin: input.origin,
      remoteAddress: input.remoteAddress,
      method: input.method,
      target: input.target,
      httpVersion: input.httpVersion,
      requestHeaders: input.requestHeaders,
      requestBody: emptyBody(),
      status: null,
      statusText: '',
      responseHeaders: [],
      responseBody: emptyBody(),
      firstByteMs: null,
      durationMs: null,
      replayOf: input.replayOf ?? null,
      upgraded: false,
      bytes: 0,
    };
    this.entries.set(exchange.id, exchange);
    this.grow(exchange, input.headBytes);
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
    this.emit('cleared');
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
