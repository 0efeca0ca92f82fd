import { FramingReader, requestBodyFraming, responseBodyFraming, type BodyFraming, type MessageHead } from './http-framing.js';

/** One request and its response as the edge saw them go by. */
export interface ObservedExchange {
  /** Null when the request head never arrived whole (or could not be read). */
  readonly method: string | null;
  readonly target: string | null;
  /** Null when no answer came (the visitor or the agent closed first). */
  readonly status: number | null;
  /** Bytes of the request on the wire (head and body); for an upgraded connection, all the visitor sent. */
  readonly bytesIn: number;
  /** Bytes of the response (1xx answers before it included); for an upgraded connection, all sent back. */
  readonly bytesOut: number;
  /** Wall-clock start (Date.now()) of the request's first byte. */
  readonly startedAt: number;
  /** From the request's first byte to the response's last (to the close, for an upgrade). */
  readonly durationMs: number;
}

interface Pending {
  method: string | null;
  target: string | null;
  startedAt: number;
  startedAtMono: number;
  bytesIn: number;
  bytesOut: number;
  status: number | null;
  /** The request's own message ended. */
  sent: boolean;
}

/**
 * Pairs the requests of one bridged HTTP connection with their responses, in order (HTTP/1.1
 * answers in request order, pipelined or not), from the bytes going by in each direction. Each
 * answered request is handed to `report` once its response's last byte went by; requests left
 * unanswered when the connection closes are reported with a null status. A 101 (or a CONNECT
 * tunnel) turns the rest of the connection into that request's bytes, reported at the close.
 * Bytes it cannot frame (see FramingReader) end the pairing: what follows is reported as one
 * exchange with what was known at the close.
 */
export class ExchangeWatch {
  private readonly queue: Pending[] = [];
  private readonly requests: FramingReader;
  private readonly responses: FramingReader;
  /** The exchange whose response is being read (the queue's head, kept while its body flows). */
  private answering: Pending | null = null;
  private tunnel: Pending | null = null;
  private opaque: Pending | null = null;
  private done = false;

  constructor(private readonly report: (exchange: ObservedExchange) => void) {
    this.requests = new FramingReader('request', {
      begin: () => {
        this.queue.push({ method: null, target: null, startedAt: Date.now(), startedAtMono: performance.now(), bytesIn: 0, bytesOut: 0, status: null, sent: false });
      },
      head: (head) => this.requestHead(head),
      end: (bytes) => {
        const pending = this.lastRequest();
        if (pending === undefined) return;
        pending.bytesIn += bytes;
        pending.sent = true;
      },
      broken: () => this.giveUp(),
    });
    this.responses = new FramingReader('response', {
      begin: () => undefined,
      head: (head) => this.responseHead(head),
      end: (bytes) => this.responseEnded(bytes),
      broken: () => this.giveUp(),
    });
  }

  /** Bytes from the visitor, as the bridge forwards them. */
  fromVisitor(chunk: Buffer): void {
    if (this.tunnel !== null) this.tunnel.bytesIn += chunk.length;
    else if (this.opaque !== null) this.opaque.bytesIn += chunk.length;
    else this.requests.push(chunk);
  }

  /** Bytes to the visitor, as the bridge forwards them. */
  toVisitor(chunk: Buffer): void {
    if (this.tunnel !== null) this.tunnel.bytesOut += chunk.length;
    else if (this.opaque !== null) this.opaque.bytesOut += chunk.length;
    else this.responses.push(chunk);
  }

  /** The agent's side ended: a response read until close is complete. */
  responsesEnded(): void {
    if (this.tunnel === null && this.opaque === null) this.responses.finish();
  }

  /** The connection closed: everything not yet reported is. */
  closed(): void {
    if (this.done) return;
    this.done = true;
    if (this.tunnel !== null) {
      this.tunnel.bytesIn += this.requests.pendingBytes;
      this.tunnel.bytesOut += this.responses.pendingBytes;
      this.emit(this.tunnel);
      return;
    }
    if (this.opaque !== null) {
      this.emit(this.opaque);
      return;
    }
    if (this.answering !== null) {
      this.answering.bytesOut += this.responses.pendingBytes;
      this.emit(this.answering);
      this.answering = null;
    }
    for (const pending of this.queue) {
      if (!pending.sent) pending.bytesIn += this.requests.pendingBytes;
      // A request whose first bytes came with nothing more (a keep-alive connection closing) is no request.
      if (pending.method === null && pending.bytesIn === 0) continue;
      this.emit(pending);
    }
    this.queue.length = 0;
  }

  private lastRequest(): Pending | undefined {
    return this.queue[this.queue.length - 1];
  }

  private requestHead(head: MessageHead): BodyFraming {
    // Undefined when the request was answered before its head was whole (the agent's 408).
    const pending = this.lastRequest();
    if (pending !== undefined) {
      pending.method = head.method ?? null;
      pending.target = head.target ?? null;
    }
    // An upgrade or CONNECT ends like any request; its answer decides whether what follows is
    // still HTTP (a refused upgrade) or a tunnel (101, CONNECT 2xx: see responseHead).
    // A Transfer-Encoding other than chunked cannot be framed (the agent refuses it): give up.
    return requestBodyFraming(head) ?? { kind: 'tunnel' };
  }

  private responseHead(head: MessageHead): BodyFraming {
    if (this.answering === null) {
      // The first response head to the oldest request. An answer before any request (which an
      // agent never sends) is reported alone.
      this.answering = this.queue.shift() ?? { method: null, target: null, startedAt: Date.now(), startedAtMono: performance.now(), bytesIn: 0, bytesOut: 0, status: null, sent: true };
    }
    const pending = this.answering;
    pending.status = head.status ?? null;
    const framing = responseBodyFraming(head, pending.method ?? undefined);
    if (framing.kind === 'tunnel') {
      // Everything after this head is the upgraded connection's, both ways, to the close. The
      // readers are fed no more: what they hold (this head, bytes after it) is added at the close.
      this.tunnel = pending;
      this.answering = null;
      return framing;
    }
    return framing;
  }

  private responseEnded(bytes: number): void {
    const pending = this.answering;
    if (pending === null) return; // a tunnel's head
    pending.bytesOut += bytes;
    const status = pending.status ?? 0;
    // 1xx (but 101) are interim: the final answer follows for the same request.
    if (status >= 100 && status < 200) return;
    this.answering = null;
    // A request whose upload is still going (an early 413) gets what it sent so far.
    if (!pending.sent && this.queue.length === 0) pending.bytesIn += this.requests.pendingBytes;
    this.emit(pending);
  }

  private giveUp(): void {
    if (this.opaque !== null || this.tunnel !== null) return;
    // Whatever is pending becomes one exchange reported at the close, with what was known.
    const first = this.answering ?? this.queue[0] ?? null;
    const opaque: Pending = first ?? { method: null, target: null, startedAt: Date.now(), startedAtMono: performance.now(), bytesIn: 0, bytesOut: 0, status: null, sent: false };
    opaque.bytesIn += this.requests.pendingBytes;
    opaque.bytesOut += this.responses.pendingBytes;
    this.answering = null;
    this.queue.length = 0;
    this.opaque = opaque;
  }

  private emit(pending: Pending): void {
    this.report({
      method: pending.method,
      target: pending.target,
      status: pending.status,
      bytesIn: pending.bytesIn,
      bytesOut: pending.bytesOut,
      startedAt: pending.startedAt,
      durationMs: performance.now() - pending.startedAtMono,
    });
  }
}
