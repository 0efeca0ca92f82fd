import { isLabel } from '../../protocol/names.js';

/*
 * Just enough HTTP/1.x parsing for the front door to route a visitor connection: find the end of
 * the first request head and read its Host. Everything else is left to whoever receives the
 * bytes (the agent's HTTP server for tunnels, the edge's own http.Server otherwise).
 */

/** Largest request head the front door buffers before answering 431. */
export const MAX_REQUEST_HEAD_BYTES = 32 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Index just past the head's terminating blank line, or -1 while the head is incomplete. */
export function findHeadEnd(buffer: Buffer): number {
  const index = buffer.indexOf(CRLFCRLF);
  return index === -1 ? -1 : index + CRLFCRLF.length;
}

/**
 * The request's target host, lowercase, without port or trailing dot; null when the head is not
 * an HTTP/1.x request with a usable host. An absolute-form target (`GET http://h/ HTTP/1.1`)
 * wins over the Host header, as RFC 9112 §3.2.2 requires.
 */
export function requestHost(head: Buffer): string | null {
  const text = head.toString('latin1');
  const firstLineEnd = text.indexOf('\r\n');
  if (firstLineEnd === -1) return null;
  const requestLine = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ (\S+) HTTP\/1\.[01]$/.exec(text.slice(0, firstLineEnd));
  if (!requestLine) return null;
  const target = requestLine[1]!;
  const absolute = /^https?:\/\/([^/?#]+)/i.exec(target);
  if (absolute) return normaliseHost(absolute[1]!);
  const hostLine = /\r\nhost:[ \t]*([^\r\n]*?)[ \t]*\r\n/i.exec(text);
  return hostLine ? normaliseHost(hostLine[1]!) : null;
}

/**
 * The origin-form path of the request (`/a?b`), taken from an absolute-form target when needed;
 * null when the request line is malformed or the target could inject a header.
 */
export function requestTarget(head: Buffer): string | null {
  const text = head.toString('latin1');
  const line = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ (\S+) HTTP\/1\.[01]\r\n/.exec(text);
  if (!line) return null;
  const target = line[1]!.replace(/^https?:\/\/[^/?#]*/i, '') || '/';
  return target.startsWith('/') && /^[\x21-\x7e]+$/.test(target) ? target : null;
}

/** `Alice.Example.net.:8080` → `alice.example.net`; `[::1]:80` → `::1`; null when malformed. */
export function normaliseHost(value: string): string | null {
  let host = value.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end === -1) return null;
    return host.slice(1, end);
  }
  const colon = host.indexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.length === 0 || host.length > 253 || !/^[a-z0-9._-]+$/.test(host)) return null;
  return host;
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
