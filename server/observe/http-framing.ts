/**
 * A strict HTTP/1.x framing reader for bytes the edge bridges without changing them: it finds
 * where each message (head and body) ends, and reads from a head only what framing needs (start
 * line, Content-Length, Transfer-Encoding, Upgrade). It never buffers bodies and never changes a
 * byte: it only watches. Whatever it cannot frame (a head over {@link MAX_OBSERVED_HEAD_BYTES},
 * a malformed length or chunk size) makes it stop (`broken`) for the rest of the connection; the
 * bytes still flow, they are just no longer told apart.
 */

/** Longer heads are not observed (the agent refuses requests over 64 KiB; origins' answers rarely come close). */
export const MAX_OBSERVED_HEAD_BYTES = 64 * 1024;
/** A chunk-size or trailer line longer than this is not HTTP anyone sends. */
const MAX_LINE_BYTES = 4096;

/** What framing needs from one message head. */
export interface MessageHead {
  /** Request: method and target (`GET`, `/a?b`); response: undefined. */
  readonly method?: string;
  readonly target?: string;
  /** Response: status code. */
  readonly status?: number;
  /** Content-Length, or null when absent. */
  readonly contentLength: number | null;
  /** The last transfer coding is chunked. */
  readonly chunked: boolean;
  /** A Transfer-Encoding header is present (chunked or not). */
  readonly transferEncoding: boolean;
  /** An Upgrade header is present. */
  readonly upgrade: boolean;
}

/** How the body after a head is framed (RFC 9112 §6.3), decided by whoever knows both directions. */
export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Until the connection closes (a response without length) */
  | { kind: 'close' }
  /** Not HTTP any more (101, CONNECT): everything after the head belongs to this message. */
  | { kind: 'tunnel' };

/** What the reader tells its owner. */
export interface FramingEvents {
  /** The first byte of a new message arrived. */
  begin(): void;
  /** A head was read: how is its body framed? */
  head(head: MessageHead): BodyFraming;
  /** A message ended; `bytes` is its whole size on the wire, head included. */
  end(bytes: number): void;
  /** Stopped understanding the bytes (see the file comment). */
  broken(reason: string): void;
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'close' | 'tunnel' | 'broken';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** The framing of a request's body (a request never reads until close). */
export function requestBodyFraming(head: MessageHead): BodyFraming | null {
  if (head.transferEncoding) return head.chunked ? { kind: 'chunked' } : null;
  if (head.contentLength !== null) return head.contentLength === 0 ? { kind: 'none' } : { kind: 'length', length: head.contentLength };
  return { kind: 'none' };
}

/** The framing of a response's body given the request's method (RFC 9112 §6.3). */
export function responseBodyFraming(head: MessageHead, requestMethod: string | undefined): BodyFraming {
  const status = head.status ?? 0;
  if (status === 101 || (requestMethod === 'CONNECT' && status >= 200 && status < 300)) return { kind: 'tunnel' };
  if (requestMethod === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) return { kind: 'none' };
  if (head.transferEncoding) return head.chunked ? { kind: 'chunked' } : { kind: 'close' };
  if (head.contentLength !== null) return head.contentLength === 0 ? { kind: 'none' } : { kind: 'length', length: head.contentLength };
  return { kind: 'close' };
}

/** One direction of one connection. */
export class FramingReader {
  private state: State = 'head';
  /** Bytes of the message in progress so far. */
  private bytes = 0;
  private remaining = 0;
  /** A head or line split across chunks, held until its end arrives. */
  private held: Buffer | null = null;
  private inMessage = false;

  constructor(private readonly role: 'request' | 'response', private readonly events: FramingEvents) {}

  get stopped(): boolean {
    return this.state === 'broken';
  }

  push(chunk: Buffer): void {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      switch (this.state) {
        case 'head': {
          if (!this.inMessage) {
            // Empty lines before a request line are allowed (RFC 9112 §2.2) and counted with it.
            this.inMessage = true;
            this.bytes = 0;
            this.events.begin();
          }
          offset = this.readHead(chunk, offset);
          break;
        }
        case 'length': {
          const take = Math.min(this.remaining, length - offset);
          this.remaining -= take;
          this.bytes += take;
          offset += take;
          if (this.remaining === 0) this.finishMessage();
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          offset = this.readLine(chunk, offset);
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, length - offset);
          this.remaining -= take;
          this.bytes += take;
          offset += take;
          if (this.remaining === 0) {
            this.state = 'chunk-crlf';
            this.remaining = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const take = Math.min(this.remaining, length - offset);
          this.remaining -= take;
          this.bytes += take;
          offset += take;
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
        case 'close':
        case 'tunnel': {
          this.bytes += length - offset;
          offset = length;
          break;
        }
        case 'broken':
          return;
      }
    }
  }

  /** The connection's end of this direction: a message read until close ends here. */
  finish(): void {
    if (this.state === 'close') this.finishMessage();
  }

  /** Bytes of the message in progress (a tunnel's or an unfinished one's). */
  get pendingBytes(): number {
    return this.bytes + (this.state === 'head' && this.held !== null ? this.held.length : 0);
  }

  private readHead(chunk: Buffer, offset: number): number {
    let source = chunk;
    let start = offset;
    let heldBytes = 0;
    if (this.held !== null) {
      // Rare: a head split across reads. Searched again from a few bytes back, for a CRLFCRLF split too.
      heldBytes = this.held.length;
      source = Buffer.concat([this.held, chunk.subarray(offset)]);
      start = 0;
      this.held = null;
    }
    const end = source.indexOf(CRLFCRLF, Math.max(start, heldBytes - 3));
    if (end === -1) {
      const have = source.length - start;
      if (have > MAX_OBSERVED_HEAD_BYTES) {
        this.bytes += have;
        this.stop('head too large');
        return chunk.length;
      }
      this.held = Buffer.from(source.subarray(start));
      return chunk.length;
    }
    const headEnd = end + 4;
    const headBytes = headEnd - start;
    if (headBytes > MAX_OBSERVED_HEAD_BYTES) {
      this.bytes += source.length - start;
      this.stop('head too large');
      return chunk.length;
    }
    const head = parseHead(source.toString('latin1', start, end), this.role);
    if (head === null) {
      this.bytes += source.length - start;
      this.stop('malformed head');
      return chunk.length;
    }
    this.bytes += headBytes;
    const framing = this.events.head(head);
    this.enter(framing);
    // Back to a position in `chunk`: what came from `held` was read before this chunk.
    return offset + (headEnd - start) - heldBytes;
  }

  private enter(framing: BodyFraming): void {
    switch (framing.kind) {
      case 'none':
        this.finishMessage();
        return;
      case 'length':
        this.state = 'length';
        this.remaining = framing.length;
        return;
      case 'chunked':
        this.state = 'chunk-size';
        return;
      case 'close':
        this.state = 'close';
        return;
      case 'tunnel':
        this.state = 'tunnel';
        return;
    }
  }

  /** Reads one line (a chunk size or a trailer field); returns the offset after what it consumed. */
  private readLine(chunk: Buffer, offset: number): number {
    const newline = chunk.indexOf(10, offset);
    if (newline === -1) {
      const piece = chunk.subarray(offset);
      this.held = this.held === null ? Buffer.from(piece) : Buffer.concat([this.held, piece]);
      this.bytes += piece.length;
      if (this.held.length > MAX_LINE_BYTES) this.stop('line too long');
      return chunk.length;
    }
    const piece = chunk.subarray(offset, newline + 1);
    this.bytes += piece.length;
    const line = (this.held === null ? piece.toString('latin1') : Buffer.concat([this.held, piece]).toString('latin1')).replace(/\r?\n$/, '');
    this.held = null;
    if (line.length > MAX_LINE_BYTES) {
      this.bytes += chunk.length - newline - 1;
      this.stop('line too long');
      return chunk.length;
    }
    if (this.state === 'trailer') {
      if (line === '') this.finishMessage();
      return newline + 1;
    }
    const size = /^([0-9a-fA-F]{1,15})[ \t]*(?:;.*)?$/.exec(line);
    if (size === null) {
      this.bytes += chunk.length - newline - 1;
      this.stop('malformed chunk size');
      return chunk.length;
    }
    const value = Number.parseInt(size[1]!, 16);
    if (value === 0) this.state = 'trailer';
    else {
      this.state = 'chunk-data';
      this.remaining = value;
    }
    return newline + 1;
  }

  private finishMessage(): void {
    const bytes = this.bytes;
    this.bytes = 0;
    this.state = 'head';
    this.inMessage = false;
    this.events.end(bytes);
  }

  private stop(reason: string): void {
    this.state = 'broken';
    this.held = null;
    this.events.broken(reason);
  }
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/\d\.\d$/;
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/;

/** Start line and framing headers of one head (without its final CRLFCRLF); null when malformed. */
export function parseHead(text: string, role: 'request' | 'response'): MessageHead | null {
  const lines = text.replace(/^(?:\r\n)+/, '').split('\r\n');
  const startLine = lines[0]!;
  let method: string | undefined;
  let target: string | undefined;
  let status: number | undefined;
  if (role === 'request') {
    const match = REQUEST_LINE.exec(startLine);
    if (match === null) return null;
    method = match[1]!;
    target = match[2]!;
  } else {
    const match = STATUS_LINE.exec(startLine);
    if (match === null) return null;
    status = Number(match[1]);
  }
  let contentLength: number | null = null;
  let transferEncoding = false;
  let chunked = false;
  let upgrade = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    // Only the few framing names are compared: the first letter filters most lines cheaply.
    const first = line.charCodeAt(0) | 0x20;
    if (first !== 0x63 && first !== 0x74 && first !== 0x75) continue;
    const name = line.slice(0, colon).toLowerCase();
    if (name === 'content-length') {
      const value = line.slice(colon + 1).trim();
      if (!/^\d{1,15}$/.test(value)) return null;
      const parsed = Number(value);
      if (contentLength !== null && contentLength !== parsed) return null;
      contentLength = parsed;
    } else if (name === 'transfer-encoding') {
      transferEncoding = true;
      const codings = line.slice(colon + 1).split(',');
      chunked = codings[codings.length - 1]!.trim().toLowerCase() === 'chunked';
    } else if (name === 'upgrade') {
      upgrade = true;
    }
  }
  return { method, target, status, contentLength, chunked, transferEncoding, upgrade };
}
