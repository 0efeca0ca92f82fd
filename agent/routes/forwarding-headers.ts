import { isIP } from 'node:net';
import { plainAddress, type VisitorInfo } from '../../protocol/index.js';

/**
 * Headers that tell an origin who the client is or how it connected, besides every
 * `X-Forwarded-*`. A client may send any of them; the agent removes them all and writes its own,
 * so an origin behind udns can believe what it reads (README, "What the origin can trust").
 */
const FORWARDING_HEADERS = new Set([
  'forwarded',
  'x-forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'client-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'cf-visitor',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-original-forwarded-for',
  'x-originating-ip',
  'x-remote-ip',
  'x-remote-addr',
  'x-proxyuser-ip',
  'x-envoy-external-address',
  'x-url-scheme',
  'x-scheme',
  'front-end-https',
  'x-original-host',
  'x-host',
]);

/**
 * True for a header only the proxy in front of an origin may write. Names compare with `_` read
 * as `-`: CGI, PHP and WSGI turn both into the same `HTTP_X_FORWARDED_FOR` (nginx and Apache
 * drop underscore headers for this reason), so `X_Forwarded_For` must go too.
 */
export function isForwardingHeader(name: string): boolean {
  return isForwardingLowerCase(name.toLowerCase());
}

/** isForwardingHeader for a name already in lower case (the rewriter has it at hand). */
export function isForwardingLowerCase(lower: string): boolean {
  const dashed = lower.includes('_') ? lower.replaceAll('_', '-') : lower;
  return dashed.startsWith('x-forwarded-') || FORWARDING_HEADERS.has(dashed);
}

/** What one request head said that the forwarding headers are built from. */
export interface ForwardingFacts {
  /** Its Host header; null when it had none (HTTP/1.0). */
  host: string | null;
  /** Values of its `X-Forwarded-For` headers, in order (read only from a trusted proxy). */
  forwardedFor: readonly string[];
  /** Values of its `X-Forwarded-Proto` headers, in order (read only from a trusted proxy). */
  forwardedProto: readonly string[];
}

/**
 * The header lines the origin gets instead of whatever the client sent: exactly one each of
 * `X-Forwarded-For`, `-Proto`, `-Host`, `-Port`, `X-Real-IP` and RFC 7239 `Forwarded`. The
 * client is the address the edge saw, or, when the edge marked the connection as coming from a
 * trusted proxy (`--trusted-proxy`), the last `X-Forwarded-For` entry, the one that proxy added.
 */
export function forwardingHeaderLines(visitor: VisitorInfo, facts: ForwardingFacts): string[] {
  const client = clientAddress(visitor, facts);
  const proto = clientProto(visitor, facts);
  const host = facts.host ?? visitor.host;
  const port = /^(?:\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(host)?.[1];
  return [
    `X-Forwarded-For: ${client}`,
    `X-Forwarded-Proto: ${proto}`,
    `X-Forwarded-Host: ${host}`,
    `X-Forwarded-Port: ${port !== undefined && Number(port) <= 65535 ? Number(port) : proto === 'https' ? 443 : 80}`,
    `X-Real-IP: ${client}`,
    `Forwarded: for=${forwardedNode(client)};proto=${proto};host=${forwardedValue(host)}`,
  ];
}

function clientAddress(visitor: VisitorInfo, facts: ForwardingFacts): string {
  if (visitor.forwardedTrusted) {
    const last = facts.forwardedFor.join(',').split(',').at(-1)!.trim();
    const address = normaliseAddress(last);
    // A proxy that added nothing usable: the connection's peer is all we know, and it is true.
    if (address !== null) return address;
  }
  return normaliseAddress(visitor.remoteAddress) ?? 'unknown';
}

function clientProto(visitor: VisitorInfo, facts: ForwardingFacts): 'http' | 'https' {
  if (visitor.forwardedTrusted) {
    const last = facts.forwardedProto.join(',').split(',').at(-1)!.trim().toLowerCase();
    if (last === 'http' || last === 'https') return last;
  }
  return visitor.scheme === 'https' ? 'https' : 'http';
}

/** The plain form of an IP address (no `::ffff:` prefix, no zone); null when it is none. */
function normaliseAddress(raw: string): string | null {
  const address = plainAddress(raw.split('%')[0]!);
  return isIP(address) === 0 ? null : address.toLowerCase();
}

/** RFC 7239 §6: IPv6 nodes are bracketed, and then must be quoted. */
function forwardedNode(client: string): string {
  return isIP(client) === 6 ? `"[${client}]"` : client;
}

/** A token as it is, anything else (a host with a port) as a quoted-string. */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}
