import type { RequestObserver } from '../routes/request-head-rewriter.js';
import type { CapturedExchange, OriginAddress } from './captured-exchange.js';
import type { ExchangeRing } from './exchange-ring.js';
import { ResponseReader, type ResponseSink } from './response-reader.js';

/** Where a tapped connection goes and who opened it. */
export interface TapContext {
  route: string;
  origin: OriginAddress;
  remoteAddress: string;
  replayOf?: number | null;
}

/**
 * Records the exchanges of one connection into the ring: requests from the rewriter's hook,
 * responses from copies of the origin's chunks (ResponseReader), matched in order (keep-alive
 * and pipelining: responses come in request order). Observes only; the bytes are the route's.
 */
export class HttpTap implements RequestObserver, ResponseSink {
  /** Requests sent and not answered yet, oldest first. */
  private readonly waiting: CapturedExchange[] = [];
  /** The request whose body is passing, if any. */
  private receiving: CapturedExchange | null = null;
  /** The response being read, once its head came. */
  private answering: CapturedExchange | null = null;
  private readonly reader = new ResponseReader(this);
  private ended = false;

  constructor(private readonly ring: ExchangeRing, private readonly context: TapContext) {}

  requestHead(head: Buffer, method: string, target: string): CapturedExchange {
    // `head` is the rewriter's own new buffer (never reused or changed): kept without a copy.
    const exchange = this.ring.start({
      route: this.context.route, origin: this.context.origin, remoteAddress: this.context.remoteAddress,
      method, target, requestHead: head, replayOf: this.context.replayOf ?? null,
    });
    this.waiting.push(exchange);
    this.receiving = exchange;
    return exchange;
  }

  requestBody(chunk: Buffer): void {
    if (this.receiving) this.ring.addBody(this.receiving, 'requestBody', chunk);
  }

  requestEnd(): void {
    this.receiving = null;
  }

  /** A copy of bytes the origin sent towards the visitor. */
  responseBytes(chunk: Buffer): void {
    this.reader.write(chunk);
  }

  requestMethod(): string | null {
    return this.waiting[0]?.method ?? null;
  }

  responseHead(status: number, statusText: string, head: Buffer, upgraded: boolean): void {
    const exchange = this.waiting[0];
    if (!exchange) return;
    exchange.status = status;
    exchange.statusText = statusText;
    exchange.responseHead = head;
    exchange.upgraded = upgraded;
    exchange.firstByteMs = performance.now() - exchange.startedClock;
    this.answering = exchange;
    this.ring.grow(exchange, head.length);
    if (upgraded) this.complete(exchange);
    else this.ring.changed(exchange);
  }

  responseBody(chunk: Buffer): void {
    if (this.answering) this.ring.addBody(this.answering, 'responseBody', chunk);
  }

  responseEnd(): void {
    const exchange = this.answering;
    if (exchange) this.complete(exchange);
  }

  responseUnreadable(reason: string): void {
    this.fail(`the origin's response could not be read (${reason}); the visitor got it unchanged`);
  }

  /**
   * The agent answered the visitor itself (the local service refused, a request was refused):
   * the oldest waiting request gets that status.
   */
  agentAnswered(status: number, reason: string): void {
    const exchange = this.waiting[0];
    if (!exchange || exchange.status !== null) return;
    exchange.status = status;
    exchange.statusText = reason;
    exchange.error = `answered by the agent: ${reason}`;
    this.complete(exchange);
  }

  /** The connection is gone: a close-delimited response ends, anything still waiting was cut. */
  closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.reader.end();
    this.fail('the connection closed before the response ended');
  }

  private complete(exchange: CapturedExchange): void {
    if (this.waiting[0] === exchange) this.waiting.shift();
    if (this.answering === exchange) this.answering = null;
    if (exchange.state !== 'pending') return;
    exchange.state = 'complete';
    exchange.durationMs = performance.now() - exchange.startedClock;
    this.ring.changed(exchange);
  }

  /** Marks every request still waiting as aborted, for `reason`. */
  fail(reason: string): void {
    for (const exchange of this.waiting.splice(0)) {
      if (exchange.state !== 'pending') continue;
      exchange.state = 'aborted';
      exchange.error = reason;
      exchange.durationMs = performance.now() - exchange.startedClock;
      this.ring.changed(exchange);
    }
    this.answering = null;
    this.receiving = null;
  }
}
