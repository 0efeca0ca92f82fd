import { Transform, type TransformCallback } from 'node:stream';
import type { VisitorInfo } from '../../protocol/index.js';
import { forwardingHeaderLines, isForwardingLowerCase } from './forwarding-headers.js';
import type { AccessRefusal, HeadCredentials } from '../access/route-guard.js';

/** Largest request head accepted (Node's own HTTP server allows 16 KiB). */
export const MAX_REQUEST_HEAD_BYTES = 64 * 1024;
/** Largest chunk-size or trailer line in a chunked body. */
const MAX_CHUNK_LINE_BYTES = 4096;
/**
 * A request head must be complete this long after its first byte, on every request of a
 * connection: the edge's front door only times the first one (slowloris after a first request).
 */
export const REQUEST_HEAD_TIMEOUT_MS = 15_000;

/**
 * Sees each request as the rewriter frames it (the inspector, agent/inspector/): `head` is the
 * head as the origin gets it, blank line included; `requestEnd` follows every request.
 */
export interface RequestObserver {
  requestHead(head: Buffer, method: string, target: string): void;
  requestBody(chunk: Buffer): void;
  requestEnd(): void;
}

/** Why a request was refused, as the HTTP status the visitor should see. */
export interface RequestRejection {
  status: 400 | 401 | 403 | 408 | 421 | 429 | 431;
  reason: string;
  /** Title of the error page (default: "Request refused"). */
  title?: string;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`). */
  headers?: Record<string, string | number>;
  /** True when it was the connection's first request: nothing was sent to the origin yet. */
  firstRequest: boolean;
}

/** Our forwarding header lines for one Host, ending the head (blank line included). */
interface ForwardingBlock {
  host: string | null;
  text: string;
  bytes: Buffer;
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
  | { kind: 'closed' }
  | { kind: 'rejected' };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Bytes over 0x7e in the target are refused: llhttp (Node) does, and a browser encodes them.
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
/**
 * RFC 9112 §3.2 target forms: origin (`/…`), asterisk, absolute (`scheme://host…`, with the
 * scheme letters and host bytes llhttp accepts); authority is CONNECT's.
 */
const TARGET = /^(?:\/|\*$|[A-Za-z]+:\/\/[^"#<>\\^`{|}/?]*(?:[/?]|$))/;
const AUTHORITY_TARGET = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;
/** RFC 9110 §5.5 field-value bytes: HTAB, SP, VCHAR, obs-text (no other control, no DEL). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const FRAMING_TRAILERS = new Set(['content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'upgrade', 'host']);
const TRAILER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/;
/** chunk-size, then RFC 9112 §7.1.1 chunk-ext without whitespace (llhttp refuses it). */
const CHUNK_LINE = /^([0-9a-fA-F]{1,12})(?:;[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"))?)*$/;
const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * The visitor→origin half of an http route: passes the bytes of every HTTP/1.x request through
 * unchanged except each request head, from which every forwarding header the visitor sent is
 * removed (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`… also spelt with `_`, also as chunked
 * trailers) and ours are added (forwarding-headers.ts). It follows message framing
 * (Content-Length, chunked) to find every head on a keep-alive connection. After an Upgrade or
 * CONNECT it holds the visitor's further bytes until the origin's answer is known
 * (`originResponded`): a switch (101, or 2xx to CONNECT) makes the rest raw, anything else
 * resumes rewriting, so an origin that declines an upgrade cannot be handed unrewritten
 * requests. Upgrades are honoured only as a connection's first request (browsers and WebSocket
 * clients open a fresh connection for them); on a later request the Upgrade header is stripped.
 *
 * Whatever Node's own parser (llhttp) would frame differently or refuse is refused rather than
 * guessed (request smuggling: both Content-Length and Transfer-Encoding, conflicting lengths,
 * obs-fold, bare LF, control bytes, loose chunk extensions, requests after `Connection: close`…),
 * so the headers we write are the ones the origin sees: request-head-rewriter.fuzz.test.ts
 * compares the two on random and mutated streams. Methods llhttp does not know are the one
 * deliberate difference: they do not change framing, and other servers accept them.
 *
 * On a refusal it emits `'rejected'` (RequestRejection) and ends its output.
 */
export class RequestHeadRewriter extends Transform {
  private state: State = { kind: 'head' };
  private pending: Buffer | null = null;
  private requests = 0;
  private upgradeAfterBody = false;
  private connectRequest = false;
  /** The current request ends the connection (`Connection: close`, HTTP/1.0 without keep-alive). */
  private closeAfter = false;
  /** Status of the origin's first response, once `originResponded` saw it. */
  private firstStatus: number | null = null;
  /** The last request's forwarding lines, reused while the Host stays the same (most connections). */
  private lastForwarding: ForwardingBlock | null = null;
  /** The last Host found to name `publicHost` (a connection keeps sending the same one). */
  private acceptedHost: string | null = null;
  /** A visitor chunk held while waiting for the origin's answer to an upgrade. */
  private held: { chunk: Buffer; done: TransformCallback } | null = null;
  /** Runs while a request head has begun and not ended (REQUEST_HEAD_TIMEOUT_MS). */
  private headClock: NodeJS.Timeout | null = null;
  /** The inspector's hook: null (nothing called) when it is off. */
  observer: RequestObserver | null = null;
  /**
   * The route's access rules (agent/access/route-guard.ts), asked about every request head:
   * a refusal rejects the request (nothing of it reaches the origin) and ends the connection.
   * While set, Authorization headers are the tunnel's and never reach the origin. Null: no
   * rules, nothing called.
   */
  authorize: ((head: HeadCredentials) => AccessRefusal | null) | null = null;

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
    if (this.state.kind === 'head' && this.pending !== null) this.startHeadClock();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.stopHeadClock();
    done();
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    this.stopHeadClock();
    done(error);
  }

  private startHeadClock(): void {
    if (this.headClock !== null) return;
    this.headClock = setTimeout(() => {
      this.headClock = null;
      if (this.state.kind === 'head' && this.pending !== null) {
        this.pending = null;
        this.reject(408, `request head not complete within ${REQUEST_HEAD_TIMEOUT_MS / 1000} s`);
      }
    }, REQUEST_HEAD_TIMEOUT_MS);
    this.headClock.unref();
  }

  private stopHeadClock(): void {
    if (this.headClock === null) return;
    clearTimeout(this.headClock);
    this.headClock = null;
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
      case 'closed':
        // Line breaks after the last request are harmless (llhttp skips them too); a request is not.
        if (input[0] === 0x0d || input[0] === 0x0a) return 1;
        return this.reject(400, 'data after a request that closes the connection');
      case 'head':
        return this.readHead(input);
      case 'body':
      case 'chunk-data': {
        const take = Math.min(state.remaining, input.length);
        this.push(input.subarray(0, take));
        if (this.observer !== null) this.observer.requestBody(input.subarray(0, take));
        state.remaining -= take;
        if (state.remaining === 0 && state.kind === 'body') {
          this.state = this.afterMessage();
          this.observer?.requestEnd();
        } else if (state.remaining === 0) this.state = { kind: 'chunk-end' };
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
    this.stopHeadClock();
    if (end + 4 > MAX_REQUEST_HEAD_BYTES) return this.reject(431, 'request head too large');
    const rewritten = this.rewriteHead(input, end);
    if (rewritten === null) return input.length;
    this.requests++;
    this.push(rewritten);
    return end + 4;
  }

  /**
   * Returns the new head (with its blank line) of the head `input[0, end)`, or null after
   * rejecting the request. Lines the origin may see go out byte for byte: the common head
   * (nothing to drop) is sent as the visitor's bytes followed by our lines, with no string
   * built (the bench's small requests spend their agent time here).
   */
  private rewriteHead(input: Buffer, end: number): Buffer | null {
    const head = input.toString('latin1', 0, end);
    const firstBreak = head.indexOf('\r\n');
    const requestLine = REQUEST_LINE.exec(firstBreak === -1 ? head : head.slice(0, firstBreak));
    if (!requestLine) return this.rejectHead(400, 'malformed request line');
    const method = requestLine[1]!;
    const http11 = requestLine[3] === '1';
    if (!(method === 'CONNECT' ? AUTHORITY_TARGET : TARGET).test(requestLine[2]!)) return this.rejectHead(400, 'malformed request target');
    // Some servers read methods case-insensitively: a lower-case CONNECT could switch them.
    if (method !== 'CONNECT' && method.toUpperCase() === 'CONNECT') return this.rejectHead(400, 'malformed request line');
    const later = this.requests > 0;

    // The head as the origin gets it, once a line was dropped or changed (null: all kept as sent).
    let rewritten: string | null = null;
    const lengths: string[] = [];
    const encodings: string[] = [];
    const forwardedFor: string[] = [];
    const forwardedProto: string[] = [];
    const connection: string[] = [];
    let host: string | null = null;
    let hostCount = 0;
    let upgrade = false;
    const authorization: string[] = [];
    for (let start = firstBreak + 2; firstBreak !== -1 && start < head.length + 2;) {
      const lineEnd = head.indexOf('\r\n', start);
      const stop = lineEnd === -1 ? head.length : lineEnd;
      const line = head.slice(start, stop);
      const colon = line.indexOf(':');
      if (colon <= 0) return this.rejectHead(400, 'malformed header line');
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) return this.rejectHead(400, 'malformed header name');
      const raw = line.slice(colon + 1);
      // Also catches a bare CR or LF (a line break to one parser, not to another) and NUL.
      if (!FIELD_VALUE.test(raw)) return this.rejectHead(400, 'invalid byte in a header value');
      const lower = name.toLowerCase();
      // llhttp ends a length or coding at a space but not at a tab: `4<TAB>` is an error there.
      if (lower === 'content-length') lengths.push(raw.replace(/^[ \t]+| +$/g, ''));
      else if (lower === 'transfer-encoding') encodings.push(raw.replace(/^[ \t]+| +$/g, ''));
      else if (lower === 'host') { host = trimValue(raw); hostCount++; }
      else if (lower === 'upgrade') upgrade = true;
      else if (lower === 'x-forwarded-for') forwardedFor.push(trimValue(raw));
      else if (lower === 'x-forwarded-proto') forwardedProto.push(trimValue(raw));
      else if (lower === 'authorization') authorization.push(trimValue(raw));

      // What goes out instead of this line: itself (undefined), nothing (null) or another line.
      let instead: string | null | undefined;
      if (isForwardingLowerCase(lower)) instead = null;
      // The tunnel's password is for the tunnel: the origin never sees it.
      else if (lower === 'authorization' && this.authorize !== null) instead = null;
      // A later request may not switch protocols: the origin's answer could not be told apart
      // from answers to the requests before it.
      else if (lower === 'upgrade' && later) instead = null;
      // llhttp reads Proxy-Connection as Connection, so both get the same treatment.
      else if (lower === 'connection' || lower === 'proxy-connection') {
        connection.push(raw);
        const tokens = raw.split(',');
        const wanted = tokens.filter((token) => !this.dropsConnectionToken(trimValue(token).toLowerCase(), later));
        if (wanted.length !== tokens.length) {
          // Naming a header here asks the next proxy to remove it: it must not be able to
          // strip the forwarding headers we add.
          const rest = wanted.map(trimValue).filter((token) => token.length > 0);
          instead = rest.length > 0 ? `${name}: ${rest.join(', ')}` : null;
        }
      }
      if (instead !== undefined && rewritten === null) rewritten = head.slice(0, start - 2);
      if (rewritten !== null && instead !== null) rewritten += `\r\n${instead ?? line}`;
      start = stop + 2;
    }
    if (hostCount > 1 || (http11 && hostCount === 0)) return this.rejectHead(400, 'a request needs exactly one Host header');
    if (this.publicHost !== null && host !== null && host !== this.acceptedHost) {
      // A verified custom domain the edge routed this connection by (its VisitorInfo says so) is ours too.
      const asked = normaliseHost(host);
      if (asked !== this.publicHost && asked !== this.visitor.customHost) return this.rejectHead(421, 'this connection serves another name');
      this.acceptedHost = host;
    }
    if (this.authorize !== null) {
      const refused = this.authorize({ authorization, forwardedFor });
      if (refused !== null) {
        this.reject(refused.status, refused.reason, refused.title, refused.headers);
        return null;
      }
    }

    if (encodings.length > 0) {
      if (lengths.length > 0) return this.rejectHead(400, 'both Content-Length and Transfer-Encoding');
      if (!http11 || encodings.length !== 1 || encodings[0]!.toLowerCase() !== 'chunked') {
        return this.rejectHead(400, 'only Transfer-Encoding: chunked is accepted');
      }
      this.state = { kind: 'chunk-line' };
    } else if (lengths.length > 0) {
      const value = lengths[0]!;
      // Two equal lengths are legal (RFC 9110 §8.6) but llhttp refuses them: so do we.
      if (!/^\d{1,15}$/.test(value) || lengths.length > 1) return this.rejectHead(400, 'invalid Content-Length');
      const length = Number(value);
      this.state = length > 0 ? { kind: 'body', remaining: length } : { kind: 'head' };
    } else {
      this.state = { kind: 'head' };
    }
    if (method === 'CONNECT') {
      if (later) return this.rejectHead(400, 'CONNECT must be the first request on a connection');
      // llhttp switches right after a CONNECT head: a body would be framed as tunnel bytes there.
      if (this.state.kind !== 'head') return this.rejectHead(400, 'CONNECT with a body');
    }
    this.closeAfter = closesConnection(connection, http11);
    // After an upgrade request (or CONNECT) the connection may stop being HTTP/1: wait and see.
    // Any hint of an upgrade waits (llhttp reads fewer): the origin's answer decides.
    this.connectRequest = method === 'CONNECT';
    this.upgradeAfterBody = !later && (method === 'CONNECT' || (upgrade && connection.some((value) => /upgrade/i.test(value))));
    const bodyless = this.state.kind === 'head';
    if (this.state.kind === 'head') this.state = this.afterMessage();

    const ours = this.forwardingLines(host, forwardedFor, forwardedProto);
    const out = rewritten === null ? Buffer.concat([input.subarray(0, end + 2), ours.bytes]) : Buffer.from(`${rewritten}\r\n${ours.text}`, 'latin1');
    if (this.observer !== null) {
      this.observer.requestHead(out, method, requestLine[2]!);
      if (bodyless) this.observer.requestEnd();
    }
    return out;
  }

  /**
   * Our forwarding header lines and the blank line ending the head, as text and as bytes.
   * Without a trusted proxy they depend on the Host alone: kept while it stays the same.
   */
  private forwardingLines(host: string | null, forwardedFor: string[], forwardedProto: string[]): ForwardingBlock {
    if (this.lastForwarding?.host === host && !this.visitor.forwardedTrusted) return this.lastForwarding;
    const text = `${forwardingHeaderLines(this.visitor, { host, forwardedFor, forwardedProto }).join('\r\n')}\r\n\r\n`;
    this.lastForwarding = { host, text, bytes: Buffer.from(text, 'latin1') };
    return this.lastForwarding;
  }

  /** True for a Connection token the origin must not get: a forwarding header, or a late upgrade. */
  private dropsConnectionToken(token: string, later: boolean): boolean {
    return isForwardingLowerCase(token) || (later && token === 'upgrade');
  }

  private readChunkLine(input: Buffer): number {
    const end = input.indexOf(CRLF);
    if (end === -1) return input.length > MAX_CHUNK_LINE_BYTES ? this.reject(400, 'chunk size line too long') : -1;
    const size = CHUNK_LINE.exec(input.toString('latin1', 0, end));
    if (!size) return this.reject(400, 'malformed chunk size');
    const length = Number.parseInt(size[1]!, 16);
    this.push(input.subarray(0, end + 2));
    this.state = length === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: length };
    return end + 2;
  }

  private readTrailerLine(input: Buffer): number {
    const end = input.indexOf(CRLF);
    if (end === -1) return input.length > MAX_CHUNK_LINE_BYTES ? this.reject(400, 'trailer line too long') : -1;
    const line = input.toString('latin1', 0, end);
    if (end > 0 && !TRAILER_LINE.test(line)) return this.reject(400, 'malformed trailer');
    const name = line.slice(0, line.indexOf(':')).toLowerCase();
    // llhttp reads these in trailers as in a head (a Content-Length there is an error, a
    // Connection: close ends the connection): RFC 9110 §6.5.1 forbids them, we refuse them.
    if (FRAMING_TRAILERS.has(name)) return this.reject(400, `${name} as a trailer`);
    // A forwarding header as a trailer is dropped like one in the head: some servers merge
    // trailers into the headers.
    if (end === 0 || !(isForwardingLowerCase(name) || (name === 'authorization' && this.authorize !== null))) this.push(input.subarray(0, end + 2));
    // The empty line ends the trailers and the message.
    if (end === 0) {
      this.state = this.afterMessage();
      this.observer?.requestEnd();
    }
    return end + 2;
  }

  private afterMessage(): State {
    if (this.upgradeAfterBody) {
      if (this.firstStatus === null) return { kind: 'awaiting-switch' };
      const switched = this.connectRequest ? this.firstStatus >= 200 && this.firstStatus < 300 : this.firstStatus === 101;
      this.upgradeAfterBody = false;
      if (switched) return { kind: 'passthrough' };
    }
    return this.closeAfter ? { kind: 'closed' } : { kind: 'head' };
  }

  private rejectHead(status: RequestRejection['status'], reason: string): null {
    this.reject(status, reason);
    return null;
  }

  private reject(status: RequestRejection['status'], reason: string, title?: string, headers?: Record<string, string | number>): number {
    this.stopHeadClock();
    this.state = { kind: 'rejected' };
    this.emit('rejected', { status, reason, firstRequest: this.requests === 0, ...(title === undefined ? {} : { title }), ...(headers === undefined ? {} : { headers }) } satisfies RequestRejection);
    this.push(null);
    return Number.MAX_SAFE_INTEGER;
  }
}

/**
 * Whether the origin will close after this request, read as llhttp does or more often: a
 * `close` token anywhere (HTTP/1.1), no exact `keep-alive` token (HTTP/1.0; llhttp takes a tab
 * after it as part of the token).
 */
function closesConnection(values: readonly string[], http11: boolean): boolean {
  if (values.length === 0) return !http11;
  const tokens = values.flatMap((value) => value.split(','));
  const close = tokens.some((token) => trimValue(token).toLowerCase() === 'close');
  if (http11 || close) return close;
  return !tokens.some((token) => token.replace(/^[ \t]+| +$/g, '').toLowerCase() === 'keep-alive');
}

/**
 * Only SP and HTAB are whitespace around a field value (RFC 9110 §5.5); String.trim would also
 * eat \v, \f or NBSP and accept a value another parser reads differently.
 */
function trimValue(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isBlank(value.charCodeAt(start))) start++;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** SP or HTAB. */
function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function normaliseHost(value: string): string {
  return value.toLowerCase().replace(/:\d*$/, '').replace(/\.$/, '');
}
