/** Largest response head the inspector reads (bigger ones stop the recording, never the bytes). */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 4096;
const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;

/** What a ResponseReader reports, in order, for each response on a connection. */
export interface ResponseSink {
  /** The method of the oldest request still waiting for its response (null: none). */
  requestMethod(): string | null;
  /** A final (or 101) response head (a copy of its bytes); interim 1xx answers are skipped. */
  responseHead(status: number, statusText: string, head: Buffer, upgraded: boolean): void;
  /** De-chunked body bytes. */
  responseBody(chunk: Buffer): void;
  /** The response ended (by its framing, or by the connection closing when that frames it). */
  responseEnd(): void;
  /** The bytes stopped making sense as HTTP/1.x responses: nothing more is reported. */
  responseUnreadable(reason: string): void;
}

type State =
  | { kind: 'head' }
  | { kind: 'body'; remaining: number }
  | { kind: 'chunk-line' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'chunk-end' }
  | { kind: 'trailers' }
  | { kind: 'until-close' }
  | { kind: 'done' };

/**
 * Reads the origin→visitor bytes of one connection as HTTP/1.x responses, for the inspector
 * only: it sees copies of the chunks the route pipes and never changes or holds them. Follows
 * RFC 9112 framing: no body for HEAD, 1xx, 204 and 304; Content-Length; chunked (bodies reported
 * de-chunked); otherwise the body runs until the connection closes. A 101 or a 2xx to CONNECT
 * ends the reading (the rest is WebSocket frames or tunnel bytes). Input split anywhere is fine.
 */
export class ResponseReader {
  private state: State = { kind: 'head' };
  private pending: Buffer | null = null;

  constructor(private readonly sink: ResponseSink) {}

  write(chunk: Buffer): void {
    if (this.state.kind === 'done') return;
    let input = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    while (input.length > 0) {
      const used = this.step(input);
      if (used < 0) {
        this.pending = input;
        return;
      }
      input = input.subarray(used);
    }
  }

  /** The origin closed its side: ends a close-delimited body. */
  end(): void {
    if (this.state.kind === 'until-close') this.sink.responseEnd();
    this.state = { kind: 'done' };
    this.pending = null;
  }

  private step(input: Buffer): number {
    const state = this.state;
    switch (state.kind) {
      case 'done':
        return input.length;
      case 'until-close':
        this.sink.responseBody(input);
        return input.length;
      case 'head':
        return this.readHead(input);
      case 'body':
      case 'chunk-data': {
        const take = Math.min(state.remaining, input.length);
        this.sink.responseBody(take === input.length ? input : input.subarray(0, take));
        state.remaining -= take;
        if (state.remaining === 0) {
          if (state.kind === 'body') this.finish();
          else this.state = { kind: 'chunk-end' };
        }
        return take;
      }
      case 'chunk-end':
        if (input.length < 2) return -1;
        if (input[0] !== 0x0d || input[1] !== 0x0a) return this.unreadable('chunk data not followed by CRLF');
        this.state = { kind: 'chunk-line' };
        return 2;
      case 'chunk-line': {
        const end = input.indexOf(CRLF);
        if (end === -1) return input.length > MAX_CHUNK_LINE_BYTES ? this.unreadable('chunk size line too long') : -1;
        const size = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(input.toString('latin1', 0, end));
        if (!size) return this.unreadable('malformed chunk size');
        const length = Number.parseInt(size[1]!, 16);
        this.state = length === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: length };
        return end + 2;
      }
      case 'trailers': {
        const end = input.indexOf(CRLF);
        if (end === -1) return input.length > MAX_CHUNK_LINE_BYTES ? this.unreadable('trailer line too long') : -1;
        if (end === 0) this.finish();
        return end + 2;
      }
    }
  }

  private readHead(input: Buffer): number {
    // Stray line breaks between responses are skipped, as clients do.
    if (input[0] === 0x0d || input[0] === 0x0a) {
      if (input[0] === 0x0d && input.length < 2) return -1;
      return input[0] === 0x0d && input[1] === 0x0a ? 2 : 1;
    }
    const end = input.indexOf(CRLFCRLF);
    if (end === -1) return input.length > MAX_RESPONSE_HEAD_BYTES ? this.unreadable('response head too large') : -1;
    const head = input.toString('latin1', 0, end);
    const firstBreak = head.indexOf('\r\n');
    const statusLine = STATUS_LINE.exec(firstBreak === -1 ? head : head.slice(0, firstBreak));
    if (!statusLine) return this.unreadable('malformed status line');
    const status = Number(statusLine[2]);
    // Only the framing headers are read here; the rest is parsed when someone looks.
    const lower = firstBreak === -1 ? '' : head.toLowerCase();
    let length: string | null = null;
    for (const value of fieldValues(lower, '\r\ncontent-length:')) {
      if (length !== null && length !== value) return this.unreadable('conflicting Content-Length');
      length = value;
    }
    const encodings = fieldValues(lower, '\r\ntransfer-encoding:');
    const encoded = encodings.length > 0;
    const codings = encoded ? encodings[encodings.length - 1]!.split(',') : [];
    const chunked = encoded && codings[codings.length - 1]!.trim() === 'chunked';
    const used = end + 4;
    if (status >= 100 && status < 200 && status !== 101) return used; // 100 Continue, 103 Early Hints…
    const method = this.sink.requestMethod();
    const upgraded = status === 101 || (method === 'CONNECT' && status >= 200 && status < 300);
    this.sink.responseHead(status, statusLine[3] ?? '', Buffer.from(input.subarray(0, used)), upgraded);
    if (upgraded) {
      this.state = { kind: 'done' };
      return input.length;
    }
    if (method === 'HEAD' || status === 204 || status === 304) {
      this.finish();
    } else if (encoded) {
      this.state = chunked ? { kind: 'chunk-line' } : { kind: 'until-close' };
    } else if (length !== null) {
      if (!/^\d{1,15}$/.test(length)) return this.unreadable('invalid Content-Length');
      const bytes = Number(length);
      if (bytes === 0) this.finish();
      else this.state = { kind: 'body', remaining: bytes };
    } else {
      this.state = { kind: 'until-close' };
    }
    return used;
  }

  private finish(): void {
    this.state = { kind: 'head' };
    this.sink.responseEnd();
  }

  private unreadable(reason: string): number {
    this.state = { kind: 'done' };
    this.pending = null;
    this.sink.responseUnreadable(reason);
    return Number.MAX_SAFE_INTEGER;
  }
}

/** The values of every `prefix` field (prefix: CRLF, lower-case name, colon) in a lower-cased head, trimmed. */
function fieldValues(lower: string, prefix: string): string[] {
  const values: string[] = [];
  for (let at = lower.indexOf(prefix); at !== -1; at = lower.indexOf(prefix, at + 2)) {
    const start = at + prefix.length;
    const end = lower.indexOf('\r\n', start);
    values.push(lower.slice(start, end === -1 ? lower.length : end).replace(/^[ \t]+|[ \t]+$/g, ''));
  }
  return values;
}
