import type http from 'node:http';
import { MAX_REQUEST_HEAD_BYTES, classifyHost, effectiveHost, normaliseHost, type RequestHead } from '../proxy/request-head.js';

/**
 * Why the edge answered a visitor's request itself instead of a tunnel (the access log's
 * `refused`: the request never reached the member's app); the statuses are http's, a tcp visitor
 * is just closed. The first three are also `udns_refused_total`'s reasons.
 */
export type RefusedReason =
  /** 400: a head the front door will not route (request-head.ts). */
  | 'bad_request_head'
  /** 431: a head over MAX_REQUEST_HEAD_BYTES. */
  | 'head_too_large'
  /** 503: the agent's tunnel has no room for another visitor stream (or the visitor's network has its share). */
  | 'visitor_limit'
  /** 429: over the operator's concurrent-visitor limits (`maxVisitorsPerAccount`/`PerRoute`). */
  | 'visitor_quota'
  /** 403: the route's `--allow-ip`/`--deny-ip`. */
  | 'ip_rules'
  /** 401: no or wrong `--basic-auth` credentials. */
  | 'basic_auth'
  /** 429: too many wrong passwords from the visitor's network. */
  | 'basic_auth_throttled'
  /** 502: a claimed name (or verified custom domain) whose agent is not connected (tcp: the tunnel went away meanwhile). */
  | 'offline'
  /** 404: a host of the zone that is no claimed name, or a foreign host that is no custom domain. */
  | 'unknown_name'
  /** 308: plain HTTP sent on to HTTPS (`--https-redirect`). */
  | 'https_redirect'
  /** 200: the edge's own answer to an ACME HTTP-01 check of a custom domain. */
  | 'acme_challenge';

/** The request fields of an access-log line for a refused request: as much as could be read, all of it printable. */
export interface RefusedRequestFields {
  /** The route's name when the host named one of the zone. */
  name: string | null;
  /** The host otherwise (normalised: a DNS name or an IP address), null when none could be read. */
  host: string | null;
  method: string | null;
  /** The request target, as `path` in the log (see loggedPath). */
  target: string | null;
}

/** Longest method kept in a refusal line: real ones are a few letters; the rest is a visitor's garbage. */
const MAX_LOGGED_METHOD = 32;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The fields of a refused request: from the front door's reading when it read the head, and
 * otherwise (a 400 or 431) the best it can from the raw bytes: method and target from the first
 * line, the host only from a single Host header that reads as one. The method comes out through
 * {@link printable}, the target when the line is written (loggedPath): never a byte a terminal
 * or a log shipper could take for a line break or a control sequence.
 */
export function refusedRequestFields(head: Pick<RequestHead, 'method' | 'target' | 'host'> | null, bytes: Buffer, domain: string): RefusedRequestFields {
  if (head !== null) return { ...hostFields(head.host, domain), method: printable(head.method, MAX_LOGGED_METHOD), target: head.target };
  const text = bytes.toString('latin1', 0, Math.min(bytes.length, MAX_REQUEST_HEAD_BYTES));
  const lineEnd = text.search(/\r?\n/);
  const [method, target] = (lineEnd === -1 ? text : text.slice(0, lineEnd)).split(' ');
  return {
    ...hostFields(singleHost(text, lineEnd), domain),
    method: method === undefined || method === '' ? null : TOKEN.test(method) && method.length <= MAX_LOGGED_METHOD ? method : printable(method, MAX_LOGGED_METHOD),
    target: target === undefined || target === '' ? null : target,
  };
}

/** The fields of a request node:http parsed (the edge's own app answering a visitor). */
export function appRequestFields(req: http.IncomingMessage, domain: string): RefusedRequestFields {
  const target = req.url ?? '/';
  return refusedRequestFields({ method: req.method ?? 'GET', target, host: effectiveHost(target, req.headers.host) }, NO_BYTES, domain);
}

const NO_BYTES = Buffer.alloc(0);

/**
 * `text` with every character outside printable ASCII (SP, controls, DEL, bytes read as latin1
 * above 0x7e) written as `%XX`, cut at `max` characters (never inside a `%XX`).
 */
export function printable(text: string, max: number): string {
  if (/^[\x21-\x7e]*$/.test(text)) return text.length > max ? text.slice(0, max) : text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const piece = code > 0x20 && code < 0x7f ? text[i]! : `%${(code & 0xff).toString(16).toUpperCase().padStart(2, '0')}`;
    if (out.length + piece.length > max) break;
    out += piece;
  }
  return out;
}

function hostFields(host: string | null, domain: string): Pick<RefusedRequestFields, 'name' | 'host'> {
  if (host === null) return { name: null, host: null };
  const kind = classifyHost(host, domain);
  return kind.kind === 'name' ? { name: kind.label, host: null } : { name: null, host };
}

/** The host of the only Host header of an unparsed head, normalised; null for none, several or a malformed one. */
function singleHost(text: string, firstLineEnd: number): string | null {
  if (firstLineEnd === -1) return null;
  const found = [...text.slice(firstLineEnd).matchAll(/\r?\nhost:[ \t]*([^\r\n]*)/gi)];
  return found.length === 1 ? normaliseHost(found[0]![1]!) : null;
}
