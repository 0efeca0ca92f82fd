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

const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ (\S+) HTTP\/1\.[01]$/;

/** The request target of an HTTP/1.x request line (`/a?b`, `http://h/x`, `*`), or null when the line is malformed. */
export function requestLineTarget(head: Buffer): string | null {
  const end = head.indexOf('\r\n');
  const line = head.toString('latin1', 0, end === -1 ? head.length : end);
  return REQUEST_LINE.exec(line)?.[1] ?? null;
}

/**
 * The host a request is for: an absolute-form target's authority (`GET http://h/ HTTP/1.1`)
 * wins over the Host header, as RFC 9112 §3.2.2 requires; lowercase, without port or trailing
 * dot; null when there is none usable. The front door and the edge's app must agree on this.
 */
export function effectiveHost(target: string, hostHeader: string | undefined): string | null {
  const absolute = /^https?:\/\/([^/?#]+)/i.exec(target);
  if (absolute) return normaliseHost(absolute[1]!);
  return hostHeader === undefined ? null : normaliseHost(hostHeader);
}

/**
 * The request's target host (see effectiveHost); null when the head is not an HTTP/1.x request
 * or names no usable host.
 */
export function requestHost(head: Buffer): string | null {
  const target = requestLineTarget(head);
  if (target === null) return null;
  const hostLine = /\r\nhost:[ \t]*([^\r\n]*?)[ \t]*\r\n/i.exec(head.toString('latin1'));
  return effectiveHost(target, hostLine?.[1]);
}

/**
 * The origin-form path of the request (`/a?b`), taken from an absolute-form target when needed;
 * null when the request line is malformed or the target could inject a header.
 */
export function requestTarget(head: Buffer): string | null {
  const line = requestLineTarget(head);
  if (line === null) return null;
  const target = line.replace(/^https?:\/\/[^/?#]*/i, '') || '/';
  return target.startsWith('/') && /^[\x21-\x7e]+$/.test(target) ? target : null;
}

/** True when a request head asks to switch protocols (WebSocket and other `Upgrade`s) or is a CONNECT. */
export function isUpgradeRequest(head: Buffer): boolean {
  const text = head.toString('latin1', 0, Math.min(head.length, MAX_REQUEST_HEAD_BYTES));
  return text.startsWith('CONNECT ') || /\r\nupgrade:[ \t]*\S/i.test(text);
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
