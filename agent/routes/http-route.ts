import net from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeBatched } from '../../protocol/batched-writes.js';
import { TunnelResetCode, rawHttpAnswer, type AgentTunnelStream, type VisitorInfo } from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import type { Inspector } from '../inspector/inspector.js';
import type { RouteGuard } from '../access/route-guard.js';
import type { RouteMeter } from '../metrics/agent-metrics.js';
import { renderAgentErrorPage } from './agent-error-page.js';
import type { LocalPortNotice } from './local-port-notice.js';
import { RequestHeadRewriter, type RequestRejection } from './request-head-rewriter.js';
import type { RouteHandler } from './route-handler.js';

/**
 * An http route: each visitor connection becomes one connection to the local web server. The
 * bytes pass through unchanged except request heads, whose forwarding headers are replaced by
 * ours (`X-Forwarded-For/-Proto/-Host/-Port`, `X-Real-IP`, `Forwarded`: RequestHeadRewriter);
 * responses, WebSocket frames and bodies are piped as they are. docs/decisions.md §15 has the
 * numbers against proxying each request with http-proxy.
 */
export class HttpRoute implements RouteHandler {
  readonly target: string;
  private publicHost: string | null = null;
  /** Each open connection to the local service, with the break of its visitor's connection. */
  private readonly open = new Map<net.Socket, () => void>();
  /** Access rules checked on every request head (`--basic-auth`, `--allow-ip`); null: none. */
  guard: RouteGuard | null = null;
  /** The agent's metrics for this route (`--metrics-listen`; agent/metrics/); null: off. */
  meter: RouteMeter | null = null;

  /**
   * `notice`: tells the agent's user when the local server refuses visitors (LocalPortNotice).
   * `inspector`: records the exchanges (agent/inspector/); without one nothing is installed.
   */
  constructor(private readonly localHost: string, private readonly localPort: number, private readonly logger: AgentLogger, private readonly notice?: LocalPortNotice, private readonly inspector?: Inspector | null) {
    this.target = `http://${localHost.includes(':') ? `[${localHost}]` : localHost}:${localPort}`;
  }

  published(url: string): void {
    this.publicHost = new URL(url).hostname;
    if (this.guard !== null) this.guard.realm = this.publicHost.split('.')[0]!;
  }

  handleStream(stream: AgentTunnelStream, visitor: VisitorInfo): void {
    stream.respond({ ':status': 200 });
    this.serve(stream, visitor, () => stream.close(TunnelResetCode.INTERNAL_ERROR));
  }

  /**
   * Serves one visitor connection, from the tunnel or (direct mode) accepted by the agent
   * itself: `abort` breaks it when the local server broke its side mid-response. Direct
   * visitors may use any Host (the PC's address, say): `checkHost` false skips the 421.
   */
  serve(stream: Duplex, visitor: VisitorInfo, abort: () => void, checkHost = true): void {
    const log = this.logger.child({ visitor: visitor.remoteAddress });
    const rewriter = new RequestHeadRewriter(visitor, checkHost ? this.publicHost : null);
    const guard = this.guard;
    if (guard !== null) rewriter.authorize = guard.forConnection(visitor);
    const local = net.connect({ host: this.localHost, port: this.localPort, allowHalfOpen: true, noDelay: true });
    this.open.set(local, abort);
    // The inspector, when on, watches the bytes as they pass and changes none.
    const tap = this.inspector?.tap({ route: this.publicHost ?? this.target, origin: { host: this.localHost, port: this.localPort }, remoteAddress: visitor.remoteAddress }) ?? null;
    if (tap !== null) {
      rewriter.observer = tap;
      local.once('connect', () => local.on('data', (chunk: Buffer) => tap.responseBytes(chunk)));
      local.once('close', () => tap.closed());
    }
    let connected = false;
    let rejection: RequestRejection | null = null;

    stream.on('error', (error) => log.debug({ err: error }, 'visitor stream error'));
    stream.on('close', () => {
      // The visitor or the tunnel went away: nothing more can reach the visitor.
      if (!local.destroyed) local.destroy();
    });
    stream.pipe(rewriter);
    // Remembered for error pages: browsers get HTML, everything else one plain line.
    let firstChunk: Buffer | null = null;
    stream.once('data', (chunk: Buffer) => { firstChunk = chunk; });

    const refuse = (refused: RequestRejection): void => {
      this.answer(stream, refused.status, refused.title ?? 'Request refused', `udns refused this request: ${refused.reason}.`, firstChunk !== null && prefersHtml(firstChunk), refused.headers);
    };
    rewriter.on('rejected', (refused: RequestRejection) => {
      log.debug({ status: refused.status, reason: refused.reason }, 'request refused');
      if (refused.firstRequest) {
        // Nothing went to the origin yet: answer the visitor ourselves.
        local.destroy();
        refuse(refused);
        return;
      }
      // The rewriter ended the origin's input: it finishes the earlier responses, then we answer.
      rejection = refused;
    });

    local.once('connect', () => {
      connected = true;
      this.notice?.connected(this.target);
      // The tunnel's 16 KiB frames that arrive in one turn go to the origin as one writev.
      pipeBatched(rewriter, local);
      local.once('data', (chunk: Buffer) => rewriter.originResponded(chunk));
      local.pipe(stream, { end: false });
    });
    local.once('end', () => {
      if (rejection) refuse(rejection);
      else if (!stream.destroyed) stream.end();
    });
    local.on('error', (error: NodeJS.ErrnoException) => {
      this.meter?.originError(connected);
      if (!connected) {
        const refused = error.code === 'ECONNREFUSED';
        log.warn({ code: error.code, target: this.target }, refused ? 'local port refused' : 'local service unreachable');
        this.notice?.failed(this.target, error.code);
        const detail = refused
          ? `The local service at ${this.target} refused the connection: is it running?`
          : `The local service at ${this.target} could not be reached (${error.code ?? error.message}).`;
        const title = refused ? 'Local port refused' : 'Local service unreachable';
        const reply = (chunk: Buffer | null): void => {
          tap?.agentAnswered(502, title);
          this.answer(stream, 502, title, detail, chunk !== null && prefersHtml(chunk));
        };
        if (firstChunk) reply(firstChunk);
        else {
          // The refusal came before the request itself: wait briefly for its head.
          const timer = setTimeout(() => reply(null), 500);
          stream.once('data', (chunk: Buffer) => { clearTimeout(timer); reply(chunk); });
        }
        return;
      }
      // The local server broke the connection mid-response: the visitor must see a break too.
      log.debug({ err: error }, 'local connection failed');
      if (!stream.destroyed) abort();
    });
    local.once('close', () => this.open.delete(local));
    if (this.meter !== null) local.once('close', () => this.meter!.socketClosed(local));
  }

  /**
   * The route was withdrawn (`udns up` removed or replaced it, new access rules too): every
   * visitor connection breaks with it. Destroying the local socket alone would leave the visitor
   * waiting with its connection open (no 'end', no 'error' comes from a destroy).
   */
  close(): void {
    for (const [socket, abort] of this.open) {
      socket.destroy();
      abort();
    }
  }

  /** Writes a complete HTTP/1.1 error response on the visitor stream and ends it. */
  private answer(stream: Duplex, status: number, title: string, detail: string, html: boolean, headers: Record<string, string | number> = {}): void {
    if (stream.destroyed || stream.writableEnded) return;
    const page = renderAgentErrorPage(status, title, detail, html);
    stream.end(rawHttpAnswer(status, page.body, { 'Content-Type': page.contentType, ...headers }));
  }
}

/** True when a request head asks for HTML (a browser): error pages then come as a page. */
function prefersHtml(head: Buffer): boolean {
  return /\r\naccept:[^\r\n]*text\/html/i.test(head.toString('latin1', 0, Math.min(head.length, 8192)));
}
