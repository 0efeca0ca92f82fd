import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import { renderErrorPage } from '../pages/error-page.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { isTrustedProxy } from './trusted-proxies.js';
import { bridgeVisitor } from './visitor-bridge.js';
import { VISITOR_LIMIT_RETRY_AFTER_S } from '../quotas/visitor-quotas.js';
import { admitHttpVisitor, visitorClient } from '../access/http-access.js';
import { rawHttpAnswer } from '../../protocol/index.js';
import type { DomainRouting } from '../domains/custom-domains.js';
import { FirstHeadReader, MAX_REQUEST_HEAD_BYTES, classifyHost, httpsLocation, isRefusal, type RequestHead } from './request-head.js';
import { refusedRequestFields, type RefusedReason } from '../observe/refused-request.js';

/** When a connection's first byte came: kept only with an access log (its lines for refusals). */
interface FirstByte {
  readonly at: number;
  readonly mono: number;
}

/** How long a new connection may take to send its first request head (slowloris guard). */
const HEAD_TIMEOUT_MS = 15_000;
/**
 * Longest life of a connection served by the edge's own app (pages, API). Node's request
 * timeouts did not cut a keep-alive connection trickling its second request at 1 byte/s;
 * nothing legitimate on the apex needs minutes. Tunnels leave this limit when they upgrade.
 */
export const APEX_CONNECTION_MAX_MS = 2 * 60_000;
const apexDeadlines = new WeakMap<Socket, NodeJS.Timeout>();

/** Lifts the apex lifetime limit from a connection that became a tunnel. */
export function releaseApexDeadline(socket: Socket): void {
  clearTimeout(apexDeadlines.get(socket));
  apexDeadlines.delete(socket);
}

/**
 * Every HTTP connection lands here first. It reads the first request head, and when its Host is
 * a name with a live tunnel, forwards the connection's bytes raw into the tunnel: the edge does
 * no per-request HTTP work, the agent does (docs/decisions.md: 2.5× the req/s of proxying at
 * HTTP level here). Everything else (the apex, the tunnel endpoint, error pages) goes to
 * `fallback`, the edge's own http.Server. A head it could read otherwise than llhttp (which
 * both of those parse with) is answered 400 (431 past 32 KiB) here and goes nowhere:
 * request-head.ts, checked by request-head.fuzz.test.ts.
 */
export function createFrontDoor(options: {
  domain: string;
  /** What visitors used to reach the edge, passed on as X-Forwarded-Proto. */
  scheme: 'http' | 'https';
  /** Send visitors to HTTPS on this port instead of serving them (plain listener only). */
  redirectToHttpsPort?: number;
  registry: TunnelRegistry;
  fallback: http.Server;
  logger: Logger;
  /** Networks of proxies in front of the edge (`--trusted-proxy`): their visitors' X-Forwarded-For is believed. */
  trustedProxies?: readonly string[];
  /** Members' verified custom domains (server/domains/): hosts outside the zone routed to a name. */
  customDomains?: DomainRouting;
}) {
  const { domain, scheme, registry, fallback, logger, redirectToHttpsPort, trustedProxies = [], customDomains } = options;

  /** The access-log line of a request answered here; `firstByte` is null without an access log, and then nothing is done. */
  function logRefusal(socket: Socket, firstByte: FirstByte | null, buffered: Buffer, head: RequestHead | null, reason: RefusedReason, status: number, bytesOut: number): void {
    const observer = registry.visitorObserver;
    if (firstByte === null || observer === null || !observer.logsRefusals) return;
    observer.refusedRequest(socket, {
      ...refusedRequestFields(head, buffered, domain), reason, status, bytesIn: buffered.length, bytesOut, startedAt: firstByte.at, startedAtMono: firstByte.mono,
    });
  }

  function handOver(socket: Socket, buffered: Buffer): void {
    const deadline = setTimeout(() => socket.destroy(), APEX_CONNECTION_MAX_MS);
    deadline.unref();
    apexDeadlines.set(socket, deadline);
    socket.once('close', () => clearTimeout(deadline));
    socket.pause();
    if (buffered.length > 0) socket.unshift(buffered);
    fallback.emit('connection', socket);
    socket.resume();
  }

  function route(socket: Socket, buffered: Buffer, head: RequestHead, firstByte: FirstByte | null): void {
    const { host } = head;
    // ACME HTTP-01 validation must stay reachable over plain HTTP, and so must dyndns2
    // updates: many home routers speak only plain HTTP and do not follow redirects.
    const location = redirectToHttpsPort === undefined || head.path?.startsWith('/.well-known/acme-challenge/') || head.path?.startsWith('/nic/update')
      ? null
      : httpsLocation(head, redirectToHttpsPort);
    if (location !== null) {
      const bytesOut = redirect(socket, location);
      // Visitors' requests only: the apex's (pages, API) are the edge's own and get no line.
      if (firstByte !== null && classifyHost(host, domain).kind !== 'apex') logRefusal(socket, firstByte, buffered, head, 'https_redirect', 308, bytesOut);
      return;
    }
    const hostClass = classifyHost(host, domain);
    let entry = hostClass.kind === 'name' ? registry.lookupHttp(hostClass.label) : undefined;
    let customHost: string | undefined;
    if (hostClass.kind === 'foreign' && customDomains !== undefined && host !== null) {
      // A custom domain: ACME HTTP-01 answers and "not found" here; a verified one is routed to
      // its name's tunnel while the name is still the same account's.
      const visit = customDomains.visit(host, head.path, headWantsHtml(buffered));
      if (visit?.kind === 'answer') {
        socket.end(visit.bytes);
        if (firstByte !== null) {
          const status = Number(visit.bytes.toString('latin1', 9, 12));
          logRefusal(socket, firstByte, buffered, head, status === 200 ? 'acme_challenge' : 'unknown_name', status, visit.bytes.length);
        }
        return;
      }
      if (visit?.kind === 'route') {
        entry = registry.lookupHttp(visit.label);
        if (entry?.tunnel.account.id !== visit.accountId) entry = undefined;
        if (entry === undefined) {
          logRefusal(socket, firstByte, buffered, head, 'offline', 502, refuse(socket, buffered, 502, 'Offline', `${host} points at a PC that is not connected right now. Try again later.`));
          return;
        }
        customHost = host.toLowerCase();
      }
    }
    if (!entry) {
      handOver(socket, buffered);
      return;
    }
    const trusted = isTrustedProxy(socket.remoteAddress, trustedProxies);
    // Access rules (`--basic-auth`, `--allow-ip`): refused visitors get their answer here.
    if (entry.access !== null) {
      const refusal = admitHttpVisitor(socket, buffered, head.end, entry.access, entry.label, visitorClient(socket, buffered, head.end, trusted), entry.tunnel.logger);
      if (refusal !== null) {
        logRefusal(socket, firstByte, buffered, head, refusal.reason, refusal.status, refusal.bytesOut);
        return;
      }
    }
    // The operator's limits (server/quotas/): over the concurrent-visitors limit, a 429 here.
    const admission = registry.quotas?.admit(entry.tunnel.account, entry.label, entry.routeId);
    if (admission !== undefined && !admission.ok) {
      entry.tunnel.logger.warn({ name: entry.label, visitor: socket.remoteAddress, limit: admission.setting, max: admission.limit }, 'visitor refused: concurrent visitors limit reached');
      logRefusal(socket, firstByte, buffered, head, 'visitor_quota', 429, refuse(socket, buffered, 429, 'Too many visitors', admission.message, { 'Retry-After': VISITOR_LIMIT_RETRY_AFTER_S }));
      return;
    }
    const log = entry.tunnel.logger.child({ name: entry.label, visitor: socket.remoteAddress });
    const outcome = bridgeVisitor(socket, entry.tunnel, {
      routeId: entry.routeId,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      scheme,
      host: host ?? '',
      ...(trusted ? { forwardedTrusted: true } : {}),
      ...(customHost !== undefined ? { customHost } : {}),
    }, buffered, log, head.upgrade ? 'upgrade' : 'http', registry.visitorObserver?.http({ account: entry.tunnel.account.name, name: entry.label }, head.upgrade ? 'upgrade' : 'http'), admission?.quota);
    // The tunnel died between lookup and open: the fallback answers 502 "offline".
    if (outcome === 'tunnel-gone') handOver(socket, buffered);
    else if (outcome === 'busy') {
      registry.visitorObserver?.refused('visitor_limit');
      logRefusal(socket, firstByte, buffered, head, 'visitor_limit', 503, refuse(socket, buffered, 503, 'Too many connections', 'This PC has too many open connections right now. Try again shortly.', { 'Retry-After': 5 }));
    }
  }

  return function onConnection(socket: Socket): void {
    // Kept for the socket's whole life, whoever holds it later (the bridge, the edge's app, a
    // 503 or 308 answered here): a visitor resetting the connection while an answer is in
    // flight raises 'error', and one without a listener ends the process. Everyday noise.
    socket.on('error', (error) => logger.debug({ err: error }, 'visitor socket error'));
    socket.setNoDelay(true);
    const reader = new FirstHeadReader();
    const timer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
    // Only an access log needs the time of the first byte (for a refusal's line).
    const timed = registry.visitorObserver?.logsRefusals === true;
    let firstByte: FirstByte | null = null;
    const onData = (chunk: Buffer): void => {
      if (timed && firstByte === null) firstByte = { at: Date.now(), mono: performance.now() };
      const head = reader.push(chunk);
      if (head === null) return;
      cleanUp();
      const buffered = reader.bytes();
      if (!isRefusal(head)) {
        route(socket, buffered, head, firstByte);
        return;
      }
      // Answered here, never routed: whoever got these bytes next could read another request
      // (or another Host) in them than the one this decision would be made on.
      logger.debug({ visitor: socket.remoteAddress, status: head.status, reason: head.reason }, 'request head refused');
      const reason = head.status === 431 ? 'head_too_large' : 'bad_request_head';
      registry.visitorObserver?.refused(reason);
      const bytesOut = head.status === 431
        ? refuse(socket, buffered, 431, 'Request header fields too large', `The request head is over ${MAX_REQUEST_HEAD_BYTES / 1024} KiB.`)
        : refuse(socket, buffered, 400, 'Bad request', `The request head is malformed: ${head.reason}.`);
      logRefusal(socket, firstByte, buffered, null, reason, head.status, bytesOut);
    };
    const onEnd = (): void => {
      cleanUp();
      socket.destroy();
    };
    const cleanUp = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  };
}

/** Answers an error page (HTML for browsers) and closes: for requests no one else may see. Returns the answer's length. */
function refuse(socket: Socket, head: Buffer, status: number, title: string, detail: string, headers: Record<string, string | number> = {}): number {
  const page = renderErrorPage(status, title, detail, headWantsHtml(head));
  const bytes = rawHttpAnswer(status, page.body, { 'Content-Type': page.contentType, ...headers });
  socket.end(bytes);
  return bytes.length;
}

function headWantsHtml(head: Buffer): boolean {
  return /\r\naccept:[^\r\n]*text\/html/i.test(head.toString('latin1', 0, Math.min(head.length, MAX_REQUEST_HEAD_BYTES)));
}

/** 308 to `location` (keeps method and body, unlike 301), then close. Returns the answer's length. */
function redirect(socket: Socket, location: string): number {
  const bytes = rawHttpAnswer(308, `Moved to ${location}\n`, { Location: location, 'Content-Type': 'text/plain; charset=utf-8' });
  socket.end(bytes);
  return bytes.length;
}
