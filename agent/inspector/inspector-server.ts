import http from 'node:http';
import { z } from 'zod';
import { UdnsError, isUdnsError } from '../../protocol/index.js';
import type { CapturedExchange } from './captured-exchange.js';
import type { ExchangeRing } from './exchange-ring.js';
import { detailOf, exchangeMatches, summaryOf } from './exchange-view.js';
import { INSPECTOR_CSS, INSPECTOR_HTML, INSPECTOR_JS } from './inspector-page.js';
import { MAX_REPLAY_BODY_BYTES, REPLAY_TIMEOUT_MS, ReplayEdits, replayExchange } from './replay.js';

/** A replay request's JSON (base64 body and escapes included). */
const MAX_API_BODY_BYTES = Math.ceil(MAX_REPLAY_BODY_BYTES * 1.4) + 256 * 1024;
/** A comment line on idle event streams, so proxies and browsers keep them open. */
const EVENT_HEARTBEAT_MS = 15_000;

const ListQuery = z.object({
  method: z.string().regex(/^[A-Za-z-]{1,32}$/, 'method must be letters, such as GET').optional(),
  status: z.enum(['1xx', '2xx', '3xx', '4xx', '5xx', 'pending', 'aborted', 'replay'], { error: 'status must be 1xx-5xx, pending, aborted or replay' }).optional(),
  q: z.string().max(256, 'q may hold at most 256 characters').optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
}).strict();

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

/**
 * The inspector's HTTP server (loopback only): the page, the JSON API and the live event
 * stream. Every request must name the inspector itself as Host (`127.0.0.1`, `localhost` or
 * `[::1]` with its port: a DNS-rebinding page cannot), and anything that changes state must be
 * a request a foreign page cannot send without a CORS preflight (a JSON body or our own header;
 * no preflight is ever granted).
 */
export function createInspectorServer(ring: ExchangeRing, port: () => number, options: { replayTimeoutMs?: number } = {}): http.Server {
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((request, response) => {
    response.on('error', () => { /* the browser went away: nothing to do */ });
    handle(request, response).catch((error: unknown) => {
      if (isUdnsError(error)) sendError(response, error.code === 'not_found' ? 404 : 400, error.code, error.message);
      else sendError(response, 500, 'internal', `inspector error: ${(error as Error).message}`);
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  server.on('close', () => { for (const stream of streams) stream.end(); });

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    if (!hostAllowed(request.headers.host, port())) {
      sendError(response, 403, 'forbidden', `the inspector answers only to http://127.0.0.1:${port()} (or localhost): this request named host ${JSON.stringify(request.headers.host ?? '')}`);
      return;
    }
    const url = new URL(request.url ?? '/', 'http://inspector');
    const method = request.method ?? 'GET';
    const readOnly = method === 'GET' || method === 'HEAD';
    if (!readOnly) {
      const refused = crossSiteReason(request, port());
      if (refused !== null) {
        await drain(request);
        sendError(response, 403, 'forbidden', refused);
        return;
      }
    }
    const route = url.pathname;
    if (readOnly && (route === '/' || route === '/index.html')) return sendAsset(response, 'text/html; charset=utf-8', INSPECTOR_HTML);
    if (readOnly && route === '/inspector.js') return sendAsset(response, 'text/javascript; charset=utf-8', INSPECTOR_JS);
    if (readOnly && route === '/inspector.css') return sendAsset(response, 'text/css; charset=utf-8', INSPECTOR_CSS);
    if (route === '/api/requests') {
      if (readOnly) return sendJson(response, 200, { requests: listExchanges(ring, url.searchParams), notRecorded: ring.notRecorded, recordPerSecond: ring.limits.recordPerSecond });
      if (method === 'DELETE') {
        ring.clear();
        return sendJson(response, 200, { cleared: true });
      }
      return notAllowed(response, 'GET, DELETE');
    }
    if (route === '/api/events' && readOnly) return openEventStream(ring, response, streams);
    const item = /^\/api\/requests\/([^/]+)(\/replay)?$/.exec(route);
    if (item) {
      const id = /^[1-9]\d{0,15}$/.test(item[1]!) ? Number(item[1]) : NaN;
      const replay = item[2] !== undefined;
      if (replay && method !== 'POST') return notAllowed(response, 'POST');
      if (!replay && !readOnly) return notAllowed(response, 'GET');
      const exchange = Number.isNaN(id) ? undefined : ring.get(id);
      if (!exchange) {
        await drain(request);
        throw new UdnsError('not_found', `no request ${JSON.stringify(item[1])} in the inspector (it keeps the last ${ring.limits.maxExchanges}): nothing was sent`);
      }
      if (!replay) return sendJson(response, 200, detailOf(exchange, ring.limits.bodyCapBytes * 16));
      const edits = await readEdits(request);
      const replayed = await replayExchange(ring, exchange, edits, options.replayTimeoutMs ?? REPLAY_TIMEOUT_MS);
      return sendJson(response, 201, detailOf(replayed, ring.limits.bodyCapBytes * 16));
    }
    sendError(response, 404, 'not_found', `no such inspector page or API: ${route} (the API is /api/requests)`);
  };
  return server;
}

/** True for `127.0.0.1:<port>`, `localhost:<port>` or `[::1]:<port>`. */
export function hostAllowed(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const lower = host.toLowerCase();
  return lower === `127.0.0.1:${port}` || lower === `localhost:${port}` || lower === `[::1]:${port}`;
}

/** Why a state-changing request may come from another site (null: it cannot). */
function crossSiteReason(request: http.IncomingMessage, port: number): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `refused: the request came from another site (Sec-Fetch-Site: ${site})`;
  const origin = request.headers.origin;
  if (origin !== undefined && !hostAllowed(origin.replace(/^http:\/\//i, ''), port)) return `refused: the request came from ${origin}`;
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && request.headers['x-udns-inspector'] === undefined) {
    return 'send changes with Content-Type: application/json or an X-Udns-Inspector header (a plain form post from another page cannot)';
  }
  return null;
}

function listExchanges(ring: ExchangeRing, params: URLSearchParams): ReturnType<typeof summaryOf>[] {
  const parsed = ListQuery.safeParse(Object.fromEntries(params));
  if (!parsed.success) throw new UdnsError('bad_request', parsed.error.issues.map((issue) => issue.message).join('; '));
  const { method, status, q, limit } = parsed.data;
  const needle = q?.trim().toLowerCase() ?? '';
  const wantedMethod = method?.toUpperCase();
  const found: ReturnType<typeof summaryOf>[] = [];
  const all = ring.list();
  for (let i = all.length - 1; i >= 0 && (limit === undefined || found.length < limit); i--) {
    const exchange = all[i]!;
    if (wantedMethod !== undefined && exchange.method !== wantedMethod) continue;
    if (status !== undefined && !statusMatches(exchange, status)) continue;
    if (needle.length > 0 && !exchangeMatches(exchange, needle)) continue;
    found.push(summaryOf(exchange));
  }
  return found;
}

function statusMatches(exchange: CapturedExchange, wanted: NonNullable<z.infer<typeof ListQuery>['status']>): boolean {
  if (wanted === 'pending' || wanted === 'aborted') return exchange.state === wanted;
  if (wanted === 'replay') return exchange.replayOf !== null;
  return exchange.status !== null && Math.floor(exchange.status / 100) === Number(wanted[0]);
}

/** Bytes of events a live viewer may leave unread before it is disconnected. */
export const MAX_UNREAD_EVENT_BYTES = 1024 * 1024;

function openEventStream(ring: ExchangeRing, response: http.ServerResponse, streams: Set<http.ServerResponse>): void {
  response.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
  // A viewer that stops reading (a stalled tab) would pile events up in the agent's memory: past
  // MAX_UNREAD_EVENT_BYTES it is cut off, and its EventSource reconnects and reloads the list.
  const send = (text: string): void => {
    if (!response.write(text) && response.writableLength > MAX_UNREAD_EVENT_BYTES) response.destroy();
  };
  send(': inspector events\n\n');
  const changed = (exchange: CapturedExchange): void => { send(`event: exchange\ndata: ${JSON.stringify(summaryOf(exchange))}\n\n`); };
  const cleared = (): void => { send('event: cleared\ndata: {}\n\n'); };
  const heartbeat = setInterval(() => send(': ping\n\n'), EVENT_HEARTBEAT_MS);
  heartbeat.unref();
  ring.on('changed', changed);
  ring.on('cleared', cleared);
  streams.add(response);
  response.on('close', () => {
    clearInterval(heartbeat);
    ring.off('changed', changed);
    ring.off('cleared', cleared);
    streams.delete(response);
  });
}

async function readEdits(request: http.IncomingMessage): Promise<ReplayEdits> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY_BYTES) throw new UdnsError('bad_request', `a replay request may hold at most ${MAX_API_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  let data: unknown = {};
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new UdnsError('bad_request', 'the replay edits must be JSON, such as {"method":"POST","path":"/x","headers":{"Content-Type":"application/json"},"body":"{}"}');
    }
  }
  const parsed = ReplayEdits.safeParse(data);
  if (!parsed.success) throw new UdnsError('bad_request', parsed.error.issues.map((issue) => `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`).join('; '));
  return parsed.data;
}

async function drain(request: http.IncomingMessage): Promise<void> {
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY_BYTES) { request.destroy(); return; }
  }
}

function sendAsset(response: http.ServerResponse, type: string, body: string): void {
  response.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function sendJson(response: http.ServerResponse, status: number, value: unknown): void {
  if (response.headersSent) return;
  const body = JSON.stringify(value);
  response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function sendError(response: http.ServerResponse, status: number, code: string, message: string): void {
  sendJson(response, status, { error: { code, message } });
}

function notAllowed(response: http.ServerResponse, allow: string): void {
  response.setHeader('Allow', allow);
  sendError(response, 405, 'bad_request', `method not allowed here: use ${allow}`);
}
