import { Transform, type TransformCallback } from 'node:stream';
import type { VisitorInfo } from '../../protocol/index.js';

/** Largest request head accepted (Node's own HTTP server allows 16 KiB). */
export const MAX_REQUEST_HEAD_BYTES = 64 * 1024;
/** Largest chunk-size or trailer line in a chunked body. */
const MAX_CHUNK_LINE_BYTES = 4096;

/** Why a request was refused, as the HTTP status the visitor should see. */
export interface RequestRejection {
  status: 400 | 421 | 431;
  reason: string;
  /** True when it was the connection's first request: nothing was sent to the origin yet. */
  firstRequest: boolean;
}

type State =
  | { kind: 'head' }
  | { kind: 'body'; remaining: number }
  | { kind: 'chunk-line' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'chunk-end' }
  | { kind: 'trailers' }
  | { kind: 'awaiting-switch' }
  | { kind: 'passthrough' }
  | { kind: 'rejected' };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e\x80-\xff]+) HTTP\/1\.([01])$/;
const DROPPED_HEADERS = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * The visitor→origin half of an http route: passes the bytes of every HTTP/1.x request through
 * unchanged except each request head, which gets `X-Forwarded-For/-Proto/-Host` (replacing any
 * the visitor sent, appending to For). It follows message framing (Content-Length, chunked) to
 * find every head on a keep-alive connection. After an Upgrade or CONNECT it holds the
 * visitor's further bytes until the origin's answer is known (`originResponded`): a switch
 * (101, or 2xx to CONNECT) makes the rest raw, anything else resumes rewriting, so an origin
 * that declines an upgrade cannot be handed unrewritten requests. Upgrades are honoured only
 * as a connection's first request (browsers and WebSocket clients open a fresh connection for
 * them); on a later request the Upgrade header is stripped. Framing that two parsers could read differently (the request-smuggling cases: both
 * Content-Length and Transfer-Encoding, conflicting lengths, obs-fold, bare LF…) is refused
 * rather than guessed: the injected headers must be the ones the origin sees.
 *
 * On a refusal it emits `'rejected'` (RequestRejection) and ends its output.
 */
export class RequestHeadRewriter extends Transform {
  private state: State = { kind: 'head' };
  private pending: Buffer | null = null;
  private requests = 0;
  private upgradeAfterBody = false;
  private connectRequest = false;
  /** Status of the origin's first response, once `originResponded` saw it. */
  private firstStatus: number | null = null;
  /** A visitor chunk held while waiting for the origin's answer to an upgrade. */
  private held: { chunk: Buffer; done: TransformCallback } | null = null;

  constructor(private readonly visitor: VisitorInfo, private readonly publicHost: string | null) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let input = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    while (input.length > 0) {
      if (this.state.kind === 'awaiting-switch') {
        // Not calling `done` yet keeps the visitor's writes waiting: backpressure, no buffering.
        this.held = { chunk: input, done };
        return;
      }
      const used = this.step(input);
      if (used < 0) {
        // Needs more bytes than this chunk holds: keep the rest for the next one.
        this.pending = input;
        break;
      }
      input = input.subarray(used);
    }
    done();
  }

  /**
   * Tells the rewriter the first bytes the origin sent back. An upgrade only ever happens on a
   * connection's first request, so these bytes start the answer to it.
   */
  originResponded(firstBytes: Buffer): void {
    if (this.firstStatus !== null) return;
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(firstBytes.toString('latin1', 0, Math.min(firstBytes.length, 32)));
    this.firstStatus = status ? Number(status[1]) : 0;
    if (this.state.kind === 'awaiting-switch') this.decideSwitch();
  }

  private decideSwitch(): void {
    this.state = this.afterMessage();
    const held = this.held;
    this.held = null;
    if (held) this._transform(held.chunk, 'latin1', held.done);
  }

  /** Consumes a prefix of `input`; returns its length, or -1 when more input is needed first. */
  private step(input: Buffer): number {
    const state = this.state;
    switch (state.kind) {
      case 'passthrough':
        this.push(input);
        return input.length;
      case 'rejected':
        return input.length;
      case 'awaiting-switch':
        return -1;
      case 'head':
        return this.readHead(input);
      case 'body':
      case 'chunk-data': {
        const take = Math.min(state.remaining, input.length);
        this.push(input.subarray(0, take));
        state.remaining -= take;
        if (state.remaining === 0) this.state = state.kind === 'body' ? this.afterMessage() : { kind: 'chunk-end' };
        return take;
      }
      case 'chunk-end':
        if (input.length < 2) return -1;
        if (input[0] !== 0x0d || input[1] !== 0x0a) return this.reject(400, 'chunk data not followed by CRLF');
        this.push(input.subarray(0, 2));
        this.state = { kind: 'chunk-line' };
        return 2;
      case 'chunk-line':
        return this.readChunkLine(input);
      case 'trailers':
        return this.readTrailerLine(input);
    }
  }

  private readHead(input: Buffer): number {
    // Tolerate the stray CRLF some clients send between requests (RFC 9112 §2.2).
    if (input[0] === 0x0d && input[1] === 0x0a) return 2;
    const end = input.indexOf(CRLFCRLF);
    if (end === -1) {
      if (input.length > MAX_REQUEST_HEAD_BYTES) return this.reject(431, 'request head too large');
      return -1;
    }
    if (end + 4 > MAX_REQUEST_HEAD_BYTES) return this.reject(431, 'request head too large');
    const rewritten = this.rewriteHead(input.toString('latin1', 0, end));
    if (rewritten === null) return input.length;
    this.requests++;
    this.push(Buffer.from(rewritten, 'latin1'));
    return end + 4;
  }

  /** Returns the new head (with its blank line), or null after rejecting the request. */
  private rewriteHead(head: string): string | null {
    const lines = head.split('\r\n');
    const requestLine = REQUEST_LINE.exec(lines[0]!);
    if (!requestLine) return this.rejectHead(400, 'malformed request line');
    const method = requestLine[1]!;
    const http11 = requestLine[3] === '1';

    const kept: string[] = [lines[0]!];
    const lengths: string[] = [];
    const encodings: string[] = [];
    const forwardedFor: string[] = [];
    let host: string | null = null;
    let hostCount = 0;
    let upgrade = false;
    let connectionUpgrade = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0 || line.includes('\n') || line.includes('\r') || line.includes('\0')) return this.rejectHead(400, 'malformed header line');
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) return this.rejectHead(400, 'malformed header name');
      const lower = name.toLowerCase();
      // Only SP and HTAB are whitespace around a field value (RFC 9110 §5.5); String.trim would
      // also eat \v, \f or NBSP and accept a Content-Length another parser reads differently.
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (lower === 'content-length') lengths.push(value);
      else if (lower === 'transfer-encoding') encodings.push(value);
      else if (lower === 'host') { host = value; hostCount++; }
      else if (lower === 'upgrade') upgrade = true;
      else if (lower === 'connection') connectionUpgrade ||= value.toLowerCase().split(',').some((token) => token.trim() === 'upgrade');
      if (DROPPED_HEADERS.has(lower)) {
        if (lower === 'x-forwarded-for' && value.length > 0) forwardedFor.push(value);
        continue;
      }
      if ((lower === 'upgrade' || lower === 'connection') && this.requests > 0) {
        // A later request may not switch protocols: the origin's answer could not be told
        // apart from answers to the requests before it.
        if (lower === 'connection') {
          const tokens = value.split(',').map((token) => token.trim()).filter((token) => token.length > 0 && token.toLowerCase() !== 'upgrade');
          if (tokens.length > 0) kept.push(`${name}: ${tokens.join(', ')}`);
        }
        continue;
      }
      kept.push(line);
    }
    if (hostCount > 1 || (http11 && hostCount === 0)) return this.rejectHead(400, 'a request needs exactly one Host header');
    if (this.publicHost !== null && host !== null && normaliseHost(host) !== this.publicHost) {
      return this.rejectHead(421, 'this connection serves another name');
    }

    if (encodings.length > 0) {
      if (lengths.length > 0) return this.rejectHead(400, 'both Content-Length and Transfer-Encoding');
      if (!http11 || encodings.length !== 1 || encodings[0]!.toLowerCase() !== 'chunked') {
        return this.rejectHead(400, 'only Transfer-Encoding: chunked is accepted');
      }
      this.state = { kind: 'chunk-line' };
    } else if (lengths.length > 0) {
      const value = lengths[0]!;
      if (!/^\d{1,15}$/.test(value) || lengths.some((other) => other !== value)) return this.rejectHead(400, 'invalid Content-Length');
      const length = Number(value);
      this.state = length > 0 ? { kind: 'body', remaining: length } : { kind: 'head' };
    } else {
      this.state = { kind: 'head' };
    }
    if (method === 'CONNECT' && this.requests > 0) return this.rejectHead(400, 'CONNECT must be the first request on a connection');
    // After an upgrade request (or CONNECT) the connection may stop being HTTP/1: wait and see.
    this.connectRequest = method === 'CONNECT';
    this.upgradeAfterBody = this.requests === 0 && (method === 'CONNECT' || (upgrade && connectionUpgrade));
    if (this.state.kind === 'head') this.state = this.afterMessage();

    forwardedFor.push(this.visitor.remoteAddress);
    kept.push(
      `X-Forwarded-For: ${forwardedFor.join(', ')}`,
      `X-Forwarded-Proto: ${this.visitor.scheme === 'https' ? 'https' : 'http'}`,
      `X-Forwarded-Host: ${host ?? this.visitor.host}`,
    );
    return `${kept.join('\r\n')}\r\n\r\n`;
  }

  private readChunkLine(input: Buffer): number {
    const end = input.indexOf(CRLF);
    if (end === -1) return input.length > MAX_CHUNK_LINE_BYTES ? this.reject(400, 'chunk size line too long') : -1;
    const line = input.toString('latin1', 0, end);
    const size = /^([0-9a-fA-F]{1,12})(?:[ \t]*;[^\r\n]*)?$/.exec(line);
    if (!size) return this.reject(400, 'malformed chunk size');
    const length = Number.parseInt(size[1]!, 16);
    this.push(input.subarray(0, end + 2));
    this.state = length === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: length };
    return end + 2;
  }

  private readTrailerLine(input: Buffer): number {
    const end = input.indexOf(CRLF);
    if (end === -1) return input.length > MAX_CHUNK_LINE_BYTES ? this.reject(400, 'trailer line too long') : -1;
    if (end > 0 && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n\0]*$/.test(input.toString('latin1', 0, end))) {
      return this.reject(400, 'malformed trailer');
    }
    this.push(input.subarray(0, end + 2));
    // The empty line ends the trailers and the message.
    if (end === 0) this.state = this.afterMessage();
    return end + 2;
  }

  private afterMessage(): State {
    if (!this.upgradeAfterBody) return { kind: 'head' };
    if (this.firstStatus !== null) {
      const switched = this.connectRequest ? this.firstStatus >= 200 && this.firstStatus < 300 : this.firstStatus === 101;
      this.upgradeAfterBody = false;
      return switched ? { kind: 'passthrough' } : { kind: 'head' };
    }
    return { kind: 'awaiting-switch' };
  }

  private rejectHead(status: RequestRejection['status'], reason: string): null {
    this.reject(status, reason);
    return null;
  }

  private reject(status: RequestRejection['status'], reason: string): number {
    this.state = { kind: 'rejected' };
    this.emit('rejected', { status, reason, firstRequest: this.requests === 0 } satisfies RequestRejection);
    this.push(null);
    return Number.MAX_SAFE_INTEGER;
  }
}

function normaliseHost(value: string): string {
  return value.toLowerCase().replace(/:\d*$/, '').replace(/\.$/, '');
}
