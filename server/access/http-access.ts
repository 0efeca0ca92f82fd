import net from 'node:net';
import type { Socket } from 'node:net';
import { rawHttpAnswer } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import { renderErrorPage } from '../pages/error-page.js';
import type { RouteAccessGate } from './route-access-gate.js';

/**
 * The values of every `name` header (lower case) in a request head the front door already
 * checked (request-head.ts: CRLF lines, token names, no obs-fold), trimmed of SP and HTAB.
 */
export function headerValues(head: Buffer, headEnd: number, name: string): string[] {
  const text = head.toString('latin1', 0, headEnd);
  const values: string[] = [];
  const wanted = `\r\n${name}:`;
  let from = 0;
  for (;;) {
    // Header names are case-insensitive: search a lower-cased copy only when a match is possible.
    const index = indexOfInsensitive(text, wanted, from);
    if (index === -1) return values;
    const start = index + wanted.length;
    const end = text.indexOf('\r\n', start);
    values.push(text.slice(start, end === -1 ? text.length : end).replace(/^[ \t]+|[ \t]+$/g, ''));
    from = start;
  }
}

function indexOfInsensitive(text: string, lowerNeedle: string, from: number): number {
  for (let i = text.indexOf('\r\n', from); i !== -1; i = text.indexOf('\r\n', i + 2)) {
    if (text.length - i < lowerNeedle.length) return -1;
    if (text.slice(i, i + lowerNeedle.length).toLowerCase() === lowerNeedle) return i;
  }
  return -1;
}

/**
 * The client of a visitor connection as the access rules see it: the TCP peer, or, when that
 * peer is a trusted proxy, the last `X-Forwarded-For` entry of the first request (the one the
 * proxy added). The agent checks the IP rules again on every request with its own reading.
 */
export function visitorClient(socket: Socket, head: Buffer, headEnd: number, trusted: boolean): string {
  const peer = socket.remoteAddress ?? '';
  if (!trusted) return peer;
  const last = headerValues(head, headEnd, 'x-forwarded-for').join(',').split(',').at(-1)!.trim();
  return net.isIP(last) === 0 ? peer : last;
}

/** A visitor the access rules turned away, as the access log tells it. */
export interface HttpAccessRefusal {
  status: 401 | 403 | 429;
  reason: 'ip_rules' | 'basic_auth' | 'basic_auth_throttled';
  /** Bytes of the answer sent. */
  bytesOut: number;
}

/**
 * Applies a route's access rules to the first request of a visitor connection, before any byte
 * goes to the agent: 403 for a refused network, 401 (`WWW-Authenticate: Basic realm="<name>"`)
 * without the right credentials, 429 with Retry-After past the wrong-password budget. Answers
 * (HTML for browsers, like the front door's other pages) and closes on refusal, and says how;
 * null when the connection may go on.
 */
export function admitHttpVisitor(socket: Socket, head: Buffer, headEnd: number, gate: RouteAccessGate, label: string, client: string, logger: Logger): HttpAccessRefusal | null {
  if (!gate.ip.allows(client)) {
    logger.info({ name: label, visitor: client }, 'visitor refused by --allow-ip/--deny-ip');
    return { status: 403, reason: 'ip_rules', bytesOut: answer(socket, head, headEnd, 403, 'Forbidden', `Visitors from this network may not open ${label}.`) };
  }
  if (!gate.basicAuth) return null;
  const verdict = gate.checkBasic(headerValues(head, headEnd, 'authorization'), client);
  if (verdict.kind === 'ok') return null;
  if (verdict.kind === 'throttled') {
    logger.info({ name: label, visitor: client, retryAfter: verdict.retryAfterSeconds }, 'basic auth throttled');
    const bytesOut = answer(socket, head, headEnd, 429, 'Too many attempts', `Too many wrong passwords from your network; try again in ${verdict.retryAfterSeconds} s.`, { 'Retry-After': verdict.retryAfterSeconds });
    return { status: 429, reason: 'basic_auth_throttled', bytesOut };
  }
  if (verdict.kind === 'wrong') logger.info({ name: label, visitor: client }, 'basic auth: wrong user name or password');
  const bytesOut = answer(socket, head, headEnd, 401, 'Sign in required', verdict.kind === 'wrong' ? 'Wrong user name or password.' : `${label} asks for a user name and password.`, {
    'WWW-Authenticate': `Basic realm="${label}", charset="UTF-8"`,
  });
  return { status: 401, reason: 'basic_auth', bytesOut };
}

/** Answers and closes; returns the answer's length. */
function answer(socket: Socket, head: Buffer, headEnd: number, status: number, title: string, detail: string, headers: Record<string, string | number> = {}): number {
  const html = headerValues(head, headEnd, 'accept').some((value) => value.includes('text/html'));
  const page = renderErrorPage(status, title, detail, html);
  // Whatever the visitor sent after the head (a body, pipelined requests) is never read.
  const bytes = rawHttpAnswer(status, page.body, { 'Content-Type': page.contentType, 'Cache-Control': 'no-store', ...headers });
  socket.end(bytes);
  return bytes.length;
}
