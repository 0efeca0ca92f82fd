import { isIPv6 } from 'node:net';
import { isLabel } from '../../protocol/names.js';

/*
 * Just enough HTTP/1.x parsing for the front door to route a visitor connection: find the end of
 * the first request head, check it, and read the host it is for. Everything else is left to
 * whoever receives the bytes (the agent's RequestHeadRewriter for tunnels, the edge's own
 * http.Server otherwise). Both of those parse with llhttp's rules, so whatever this reading could
 * disagree with llhttp (strict, as node:http runs it) about is refused here with 400 rather than
 * routed: request-head.fuzz.test.ts compares the two on random and mutated visitor streams.
 */

/** Largest request head the front door buffers before answering 431. */
export const MAX_REQUEST_HEAD_BYTES = 32 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Bytes over 0x7e or controls in the target are refused: llhttp does, and a browser encodes them.
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
/** Absolute form: the scheme letters llhttp takes, then an authority made of its "server" bytes. */
const ABSOLUTE_TARGET = /^([A-Za-z]+):\/\/([^"#<>\\^`{|}/?]*)(?=[/?]|$)/;
/** CONNECT's authority form, as the agent's rewriter accepts it. */
const AUTHORITY_TARGET = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;
/** RFC 9110 §5.5 field-value bytes: HTAB, SP, VCHAR, obs-text (no other control, no DEL). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The front door's reading of a connection's first request head. */
export interface RequestHead {
  /** Index just past the head's blank line: where the body or the next request begins. */
  end: number;
  method: string;
  /** The request target as sent (`/a?b`, `http://h/x`, `*`, `h:443`). */
  target: string;
  /** Host the request is for (see effectiveHost), null when it names none. */
  host: string | null;
  /** The target in origin form (`/a?b`), for a redirect; null for `*` and CONNECT. */
  path: string | null;
  /** True when llhttp would switch protocols after it: CONNECT, or `Upgrade` with `Connection: upgrade`. */
  upgrade: boolean;
}

/** A first head the front door answers itself: 431 past MAX_REQUEST_HEAD_BYTES, 400 when malformed. */
export interface HeadRefusal {
  status: 400 | 431;
  reason: string;
}

/** Index just past the head's terminating blank line, or -1 while the head is incomplete. */
export function findHeadEnd(buffer: Buffer): number {
  const index = buffer.indexOf(CRLFCRLF);
  return index === -1 ? -1 : index + CRLFCRLF.length;
}

/**
 * Reads the first request head of `buffer` (a connection's first bytes): null while it is
 * incomplete and may still fit, a refusal when it is too long or anything in it could be read
 * another way by llhttp, the request otherwise.
 */
export function readFirstHead(buffer: Buffer): RequestHead | HeadRefusal | null {
  const end = findHeadEnd(buffer);
  if (end === -1) return buffer.length > MAX_REQUEST_HEAD_BYTES ? tooLarge() : null;
  return readHead(buffer, end);
}

/**
 * Collects a connection's first bytes chunk by chunk until readFirstHead can decide, without
 * copying or searching them all again per chunk (a visitor may send its head byte by byte). The
 * verdict is the same however the bytes were cut.
 */
export class FirstHeadReader {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  /** The last bytes seen (up to 3): a CRLFCRLF may start there and end in the next chunk. */
  private tail: Buffer = Buffer.alloc(0);

  /** Adds the next chunk; returns the verdict once there is one, null while more bytes are needed. */
  push(chunk: Buffer): RequestHead | HeadRefusal | null {
    const window = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    const windowStart = this.length - this.tail.length;
    this.chunks.push(chunk);
    this.length += chunk.length;
    const found = window.indexOf(CRLFCRLF);
    if (found !== -1) return readHead(this.bytes(), windowStart + found + CRLFCRLF.length);
    if (this.length > MAX_REQUEST_HEAD_BYTES) return tooLarge();
    this.tail = window.subarray(Math.max(0, window.length - (CRLFCRLF.length - 1)));
    return null;
  }

  /** Every byte pushed so far. */
  bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks));
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}

/** True for a verdict that is a refusal. */
export function isRefusal(verdict: RequestHead | HeadRefusal): verdict is HeadRefusal {
  return 'status' in verdict;
}

function tooLarge(): HeadRefusal {
  return { status: 431, reason: `request head over ${MAX_REQUEST_HEAD_BYTES / 1024} KiB` };
}

function malformed(reason: string): HeadRefusal {
  return { status: 400, reason };
}

/** Checks the head ending at `end` line by line, as strictly as llhttp or more. */
function readHead(buffer: Buffer, end: number): RequestHead | HeadRefusal {
  // Also where the blank line comes only in a later chunk: the verdict may not depend on cuts.
  if (end > MAX_REQUEST_HEAD_BYTES) return tooLarge();
  const lines = buffer.toString('latin1', 0, end - CRLFCRLF.length).split('\r\n');
  const requestLine = REQUEST_LINE.exec(lines[0]!);
  if (!requestLine) return malformed('the request line is not METHOD SP target SP HTTP/1.x');
  const [, method, target, minor] = requestLine as unknown as [string, string, string, string];
  // Some servers read methods case-insensitively: a lower-case CONNECT could switch them.
  if (method !== 'CONNECT' && method.toUpperCase() === 'CONNECT') return malformed('CONNECT must be upper case');
  // HTTP/2's connection preface: llhttp waits for the rest of it, or refuses, never serves it.
  if (method.toUpperCase() === 'PRI') return malformed('PRI is the HTTP/2 connection preface');
  let path: string | null = null;
  if (method === 'CONNECT') {
    if (!AUTHORITY_TARGET.test(target)) return malformed('a CONNECT target is host:port');
  } else if (target.startsWith('/')) {
    path = target;
  } else if (target !== '*') {
    const absolute = ABSOLUTE_TARGET.exec(target);
    if (!absolute) return malformed('the request target is not /path, * or an http(s) URL');
    // Other schemes, userinfo and empty hosts would leave the Host header to decide: RFC 9110
    // §4.2 has them refused.
    if (!/^https?$/i.test(absolute[1]!)) return malformed('an absolute-form target must be http or https');
    if (normaliseHost(absolute[2]!) === null) return malformed('the host of the target URL is malformed');
    const rest = target.slice(absolute[0].length);
    path = rest.startsWith('/') ? rest : `/${rest}`;
  }

  const hosts: string[] = [];
  const lengths: string[] = [];
  const encodings: string[] = [];
  let upgradeHeader = false;
  let connectionUpgrade = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // Also an obs-fold line (starts with whitespace) and one without a colon: llhttp refuses both.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return malformed('a header line is not name: value');
    const raw = line.slice(colon + 1);
    // Also a bare CR or LF (a line break to one parser, not to another) and NUL.
    if (!FIELD_VALUE.test(raw)) return malformed('a header value holds a control byte');
    const name = line.slice(0, colon).toLowerCase();
    if (name === 'host') hosts.push(trimWhitespace(raw));
    // llhttp ends a length or coding at a space but not at a tab: `4<TAB>` is an error there.
    else if (name === 'content-length') lengths.push(raw.replace(/^[ \t]+| +$/g, ''));
    else if (name === 'transfer-encoding') encodings.push(raw.replace(/^[ \t]+| +$/g, ''));
    else if (name === 'upgrade') upgradeHeader ||= trimWhitespace(raw) !== '';
    else if (name === 'connection' || name === 'proxy-connection') connectionUpgrade ||= hasUpgradeToken(raw);
  }
  // What llhttp refuses once the head is read: the request would never reach anyone.
  if (encodings.length > 0) {
    if (lengths.length > 0) return malformed('both Content-Length and Transfer-Encoding');
    if (encodings.length > 1 || encodings[0]!.toLowerCase() !== 'chunked') return malformed('only Transfer-Encoding: chunked is accepted');
  } else if (lengths.length > 1 || (lengths.length === 1 && !/^\d{1,15}$/.test(lengths[0]!))) {
    return malformed('invalid Content-Length');
  }

  // RFC 9112 §3.2: a second Host, a malformed one, or none in HTTP/1.1 is a 400. node:http keeps
  // the first of two, other servers the last; an empty Host means "no host".
  if (hosts.length > 1) return malformed('more than one Host header');
  if (hosts.length === 0 && minor === '1') return malformed('an HTTP/1.1 request needs a Host header');
  const hostHeader = hosts[0];
  if (hostHeader !== undefined && hostHeader !== '' && normaliseHost(hostHeader) === null) return malformed('the Host header is malformed');
  return {
    end,
    method,
    target,
    host: effectiveHost(target, hostHeader),
    path,
    upgrade: method === 'CONNECT' || (upgradeHeader && connectionUpgrade),
  };
}

/**
 * llhttp's reading of a Connection value: a comma-separated `upgrade` token, after any spaces or
 * tabs and followed only by spaces (`upgrade<TAB>` is another token to it).
 */
function hasUpgradeToken(value: string): boolean {
  return value.split(',').some((token) => /^[ \t]*upgrade *$/i.test(token));
}

/** Only SP and HTAB surround a field value (RFC 9110 §5.5); String.trim would also eat \v, \f, NBSP. */
function trimWhitespace(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * The host a request is for: an absolute-form target's authority (`GET http://h/ HTTP/1.1`)
 * wins over the Host header, as RFC 9112 §3.2.2 requires; lowercase, without port or trailing
 * dot; null when there is none usable. The front door and the edge's app must agree on this.
 */
export function effectiveHost(target: string, hostHeader: string | undefined): string | null {
  const absolute = ABSOLUTE_TARGET.exec(target);
  if (absolute) return /^https?$/i.test(absolute[1]!) ? normaliseHost(absolute[2]!) : null;
  return hostHeader === undefined ? null : normaliseHost(hostHeader);
}

/**
 * `Alice.Example.net.:8080` → `alice.example.net`; `[::1]:80` → `::1`; null when it is not a
 * DNS-style name or an IP address with an optional port (RFC 3986 uri-host [":" port]).
 */
export function normaliseHost(value: string): string | null {
  const authority = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._-]+))(?::\d*)?$/.exec(trimWhitespace(value).toLowerCase());
  if (!authority) return null;
  if (authority[1] !== undefined) return isIPv6(authority[1]) ? authority[1] : null;
  const host = authority[2]!.endsWith('.') ? authority[2]!.slice(0, -1) : authority[2]!;
  return host.length === 0 || host.length > 253 ? null : host;
}

/** `https://<host>[:port]<path>`: where a plain-HTTP request is sent by --https-redirect; null without a host or a path. */
export function httpsLocation(head: RequestHead, httpsPort: number): string | null {
  if (head.host === null || head.path === null) return null;
  return `https://${head.host.includes(':') ? `[${head.host}]` : head.host}${httpsPort === 443 ? '' : `:${httpsPort}`}${head.path}`;
}

/** What a host means to this edge. */
export type HostClass =
  | { kind: 'apex' }
  | { kind: 'name'; label: string }
  | { kind: 'foreign' };

/**
 * Classifies a request host against the zone: the apex (or a bare IP, or no host) reaches the
 * edge's own pages and API; `<label>.<domain>` is a member name; anything else is foreign.
 */
export function classifyHost(host: string | null, domain: string): HostClass {
  if (host === null || host === domain || /^[0-9.]+$/.test(host) || host.includes(':')) return { kind: 'apex' };
  const suffix = `.${domain}`;
  if (host.endsWith(suffix)) {
    const label = host.slice(0, -suffix.length);
    if (isLabel(label)) return { kind: 'name', label };
  }
  return { kind: 'foreign' };
}
