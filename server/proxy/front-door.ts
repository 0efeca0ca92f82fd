import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import { renderErrorPage } from '../pages/error-page.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { isTrustedProxy } from './trusted-proxies.js';
import { bridgeVisitor } from './visitor-bridge.js';
import { rawHttpAnswer } from '../../protocol/index.js';
import { MAX_REQUEST_HEAD_BYTES, classifyHost, findHeadEnd, requestHost, requestLineTarget, requestTarget } from './request-head.js';

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
 * `fallback`, the edge's own http.Server.
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
}) {
  const { domain, scheme, registry, fallback, logger, redirectToHttpsPort, trustedProxies = [] } = options;

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

  function route(socket: Socket, buffered: Buffer, headEnd: number): void {
    const host = requestHost(buffered.subarray(0, headEnd));
    if (redirectToHttpsPort !== undefined && host !== null) {
      const target = requestTarget(buffered.subarray(0, headEnd));
      // ACME HTTP-01 validation must stay reachable over plain HTTP, and so must dyndns2
      // updates: many home routers speak only plain HTTP and do not follow redirects.
      if (target !== null && !target.startsWith('/.well-known/acme-challenge/') && !target.startsWith('/nic/update')) {
        redirect(socket, `https://${host.includes(':') ? `[${host}]` : host}${redirectToHttpsPort === 443 ? '' : `:${redirectToHttpsPort}`}${target}`);
        return;
      }
    }
    const hostClass = classifyHost(host, domain);
    const entry = hostClass.kind === 'name' ? registry.lookupHttp(hostClass.label) : undefined;
    if (!entry) {
      handOver(socket, buffered);
      return;
    }
    const log = entry.tunnel.logger.child({ name: entry.label, visitor: socket.remoteAddress });
    const outcome = bridgeVisitor(socket, entry.tunnel, {
      routeId: entry.routeId,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      scheme,
      host: host ?? '',
      ...(isTrustedProxy(socket.remoteAddress, trustedProxies) ? { forwardedTrusted: true } : {}),
    }, buffered, log);
    // The tunnel died between lookup and open: the fallback answers 502 "offline".
    if (outcome === 'tunnel-gone') handOver(socket, buffered);
    else if (outcome === 'busy') {
      refuse(socket, buffered, 503, 'Too many connections', 'This PC has too many open connections right now. Try again shortly.', { 'Retry-After': 5 });
    }
  }

  return function onConnection(socket: Socket): void {
    // Kept for the socket's whole life, whoever holds it later (the bridge, the edge's app, a
    // 503 or 308 answered here): a visitor resetting the connection while an answer is in
    // flight raises 'error', and one without a listener ends the process. Everyday noise.
    socket.on('error', (error) => logger.debug({ err: error }, 'visitor socket error'));
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const headEnd = findHeadEnd(buffered);
      if (headEnd === -1 && buffered.length <= MAX_REQUEST_HEAD_BYTES) return;
      cleanUp();
      if (headEnd === -1) refuse(socket, buffered, 431, 'Request header fields too large', `The request head is over ${MAX_REQUEST_HEAD_BYTES / 1024} KiB.`);
      // Answered here: the edge's app would read a Host the front door could not, and answer
      // for a name ("offline") that was never looked at.
      else if (requestLineTarget(buffered) === null) refuse(socket, buffered, 400, 'Bad request', 'The request line is not HTTP/1.x: METHOD SP target SP HTTP/1.1.');
      else route(socket, buffered, headEnd);
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

/** Answers an error page (HTML for browsers) and closes: for requests no one else may see. */
function refuse(socket: Socket, head: Buffer, status: number, title: string, detail: string, headers: Record<string, string | number> = {}): void {
  const page = renderErrorPage(status, title, detail, headWantsHtml(head));
  socket.end(rawHttpAnswer(status, page.body, { 'Content-Type': page.contentType, ...headers }));
}

function headWantsHtml(head: Buffer): boolean {
  return /\r\naccept:[^\r\n]*text\/html/i.test(head.toString('latin1', 0, Math.min(head.length, MAX_REQUEST_HEAD_BYTES)));
}

/** 308 to `location` (keeps method and body, unlike 301), then close. */
function redirect(socket: Socket, location: string): void {
  socket.end(rawHttpAnswer(308, `Moved to ${location}\n`, { Location: location, 'Content-Type': 'text/plain; charset=utf-8' }));
}
