import http from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy-3';
import type { VisitorInfo } from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import type { RouteHandler } from './route-handler.js';
import { asVisitorSocket, visitorOf } from './stream-socket.js';
import { renderAgentErrorPage } from './agent-error-page.js';

/**
 * An http route: visitor streams are fed to an in-process HTTP server (never listening on a
 * port) that proxies each request to the local web server with http-proxy. HTTP parsing and the
 * X-Forwarded-* headers happen here, on the PC, so the shared edge only moves bytes.
 */
export class HttpRoute implements RouteHandler {
  private readonly server: http.Server;
  private readonly proxy: ReturnType<typeof httpProxy.createProxyServer>;
  private readonly upstreamAgent: http.Agent;
  private publicHost: string | null = null;
  readonly target: string;

  constructor(private readonly localHost: string, private readonly localPort: number, private readonly logger: AgentLogger) {
    this.target = `http://${formatHost(localHost)}:${localPort}`;
    this.upstreamAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 60_000 });
    this.proxy = httpProxy.createProxyServer({ target: this.target, agent: this.upstreamAgent, xfwd: false, ws: true });
    this.proxy.on('error', (error, req, resOrSocket) => this.onProxyError(error as NodeJS.ErrnoException, req as http.IncomingMessage, resOrSocket as http.ServerResponse | Duplex));
    this.proxy.on('proxyRes', (proxyRes, _req, res) => {
      // Local server died mid-body: the visitor must see a broken response, not wait forever.
      const abort = (): void => { if (!(res as http.ServerResponse).writableEnded) (res as http.ServerResponse).destroy(); };
      proxyRes.on('aborted', abort);
      proxyRes.on('error', abort);
      proxyRes.on('close', () => { if (!proxyRes.complete) abort(); });
    });
    this.server = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (error, socket) => {
      this.logger.debug({ err: error }, 'malformed request from visitor');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  published(url: string): void {
    this.publicHost = new URL(url).hostname;
  }

  handleStream(stream: ServerHttp2Stream, visitor: VisitorInfo): void {
    stream.respond({ ':status': 200 });
    stream.on('error', (error) => this.logger.debug({ err: error }, 'visitor stream error'));
    this.server.emit('connection', asVisitorSocket(stream, visitor));
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
    this.upstreamAgent.destroy();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.hostMatches(req)) {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('421 Misdirected Request: this connection serves another name\n');
      return;
    }
    setForwardedHeaders(req);
    this.proxy.web(req, res);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.hostMatches(req)) {
      socket.end('HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\n\r\n');
      return;
    }
    setForwardedHeaders(req);
    this.proxy.ws(req, socket, head);
  }

  /**
   * The edge routed this connection by its first request's Host; later requests on the same
   * keep-alive connection must be for the same name or they would reach the wrong service.
   */
  private hostMatches(req: http.IncomingMessage): boolean {
    if (this.publicHost === null) return true;
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    return host === this.publicHost;
  }

  private onProxyError(error: NodeJS.ErrnoException, req: http.IncomingMessage, resOrSocket: http.ServerResponse | Duplex): void {
    const refused = error.code === 'ECONNREFUSED';
    const detail = refused
      ? `The local service at ${this.target} refused the connection: is it running?`
      : `The local service at ${this.target} failed (${error.code ?? error.message}).`;
    this.logger.warn({ code: error.code, target: this.target }, refused ? 'local port refused' : 'local service failed');
    if (resOrSocket instanceof http.ServerResponse) {
      if (resOrSocket.headersSent) {
        resOrSocket.destroy();
        return;
      }
      const page = renderAgentErrorPage(502, refused ? 'Local port refused' : 'Local service failed', detail, (req.headers.accept ?? '').includes('text/html'));
      resOrSocket.writeHead(502, { 'content-type': page.contentType, 'content-length': Buffer.byteLength(page.body) });
      resOrSocket.end(page.body);
    } else {
      resOrSocket.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${detail}\n`);
    }
  }
}

/** X-Forwarded-For/-Proto/-Host as a visitor-facing reverse proxy sets them. */
function setForwardedHeaders(req: http.IncomingMessage): void {
  const visitor = visitorOf(req.socket);
  if (!visitor) return;
  const previous = req.headers['x-forwarded-for'];
  req.headers['x-forwarded-for'] = previous ? `${previous}, ${visitor.remoteAddress}` : visitor.remoteAddress;
  req.headers['x-forwarded-proto'] = visitor.scheme === 'https' ? 'https' : 'http';
  req.headers['x-forwarded-host'] = req.headers.host ?? visitor.host;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
