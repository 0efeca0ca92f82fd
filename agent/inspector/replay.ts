import net from 'node:net';
import { z } from 'zod';
import { UdnsError } from '../../protocol/index.js';
import { bodyBytes, type CapturedExchange } from './captured-exchange.js';
import type { ExchangeRing } from './exchange-ring.js';
import { HttpTap } from './http-tap.js';

/** A replay gives up (and is recorded as aborted) when its response has not ended by then. */
export const REPLAY_TIMEOUT_MS = 30_000;
/** Largest body a replay may send (the API's request body is bounded accordingly). */
export const MAX_REPLAY_BODY_BYTES = 8 * 1024 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Printable ASCII, no space: an origin-form, absolute or asterisk target. */
const TARGET = /^(?:\/[\x21-\x7e]*|\*|[A-Za-z][A-Za-z0-9+.-]*:\/\/[\x21-\x7e]+)$/;
/** Field-value bytes (RFC 9110 §5.5): no CR, LF or NUL can sneak a header or a request in. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Framing is ours to write: the replay's own length, one request per connection. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection', 'te']);

const HeaderList = z.array(z.tuple([
  z.string().regex(TOKEN, 'a header name must be an HTTP token (letters, digits, -)'),
  z.string().regex(FIELD_VALUE, 'a header value may not hold line breaks, NUL or characters above U+00FF'),
])).max(200, 'at most 200 headers');

/** The edits a replay may carry (`POST /api/requests/:id/replay`); everything left out is the original's. */
export const ReplayEdits = z.object({
  method: z.string().regex(TOKEN, 'method must be an HTTP token such as GET or POST').max(32).optional(),
  path: z.string().regex(TARGET, 'path must start with / and hold no spaces or control characters').max(16 * 1024).optional(),
  /** Replaces every header: `[["Name", "value"], …]` or `{ "Name": "value" }`. */
  headers: z.union([HeaderList, z.record(z.string(), z.string()).transform((record, context) => {
    const list = HeaderList.safeParse(Object.entries(record));
    if (!list.success) {
      for (const issue of list.error.issues) context.addIssue({ code: 'custom', message: issue.message });
      return z.NEVER;
    }
    return list.data;
  })]).optional(),
  /** Replaces the body: text (sent as UTF-8)… */
  body: z.string().optional(),
  /** …or bytes, base64. */
  bodyBase64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'bodyBase64 must be base64').optional(),
}).strict().refine((edits) => edits.body === undefined || edits.bodyBase64 === undefined, 'send body or bodyBase64, not both');
export type ReplayEdits = z.infer<typeof ReplayEdits>;

/**
 * Sends `original` again (with `edits`) straight to its route's local origin, on a connection
 * of its own, and records it in the ring as a new exchange marked `replayOf`. Resolves with
 * that exchange once its response ended, or it failed (refused, timed out: recorded as aborted).
 * @throws UdnsError `bad_request` when the original's body was cut at the cap and no body is given
 */
export function replayExchange(ring: ExchangeRing, original: CapturedExchange, edits: ReplayEdits, timeoutMs = REPLAY_TIMEOUT_MS): Promise<CapturedExchange> {
  let body: Buffer;
  if (edits.body !== undefined) body = Buffer.from(edits.body, 'utf8');
  else if (edits.bodyBase64 !== undefined) body = Buffer.from(edits.bodyBase64, 'base64');
  else if (original.requestBody.total > original.requestBody.kept) {
    throw new UdnsError('bad_request', `request ${original.id}'s body was kept only up to ${original.requestBody.kept} of ${original.requestBody.total} bytes: send the body to replay with ("body" or "bodyBase64")`);
  } else body = bodyBytes(original.requestBody);
  if (body.length > MAX_REPLAY_BODY_BYTES) throw new UdnsError('bad_request', `a replayed body may hold at most ${MAX_REPLAY_BODY_BYTES} bytes`);

  const method = edits.method ?? original.method;
  const target = edits.path ?? original.target;
  const headers = (edits.headers ?? original.requestHeaders).filter(([name]) => !FRAMING.has(name.toLowerCase()));
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) headers.unshift(['Host', `${original.origin.host}:${original.origin.port}`]);
  if (body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(method)) headers.push(['Content-Length', String(body.length)]);
  headers.push(['Connection', 'close']);
  const head = Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`, 'latin1');

  const tap = new HttpTap(ring, { route: original.route, origin: original.origin, remoteAddress: 'replay', replayOf: original.id });
  const exchange = tap.requestHead(head, method, target);
  if (body.length > 0) tap.requestBody(body);
  tap.requestEnd();

  return new Promise((resolve) => {
    const socket = net.connect({ host: original.origin.host, port: original.origin.port, allowHalfOpen: false });
    const timer = setTimeout(() => {
      tap.fail(`no complete response within ${timeoutMs / 1000} s`);
      socket.destroy();
    }, timeoutMs);
    socket.on('connect', () => socket.write(body.length > 0 ? Buffer.concat([head, body]) : head));
    socket.on('data', (chunk: Buffer) => tap.responseBytes(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      tap.fail(error.code === 'ECONNREFUSED'
        ? `the local service at ${original.origin.host}:${original.origin.port} refused the connection: is it running?`
        : `the local service could not be reached (${error.code ?? error.message})`);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      tap.closed();
      resolve(exchange);
    });
  });
}
