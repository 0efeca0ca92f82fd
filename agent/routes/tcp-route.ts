import net from 'node:net';
import type { Duplex } from 'node:stream';
import { TunnelResetCode, type AgentTunnelStream, type VisitorInfo } from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import type { RouteGuard } from '../access/route-guard.js';
import type { RouteMeter } from '../metrics/agent-metrics.js';
import type { LocalPortNotice } from './local-port-notice.js';
import type { RouteHandler } from './route-handler.js';

/** A tcp route: each visitor stream becomes one connection to the local port, bytes both ways. */
export class TcpRoute implements RouteHandler {
  readonly target: string;
  /** Each open connection to the local service, with its visitor's stream. */
  private readonly open = new Map<net.Socket, Duplex>();
  /** `--allow-ip` / `--deny-ip`, checked again here (the edge closes refused visitors first); null: none. */
  guard: RouteGuard | null = null;
  /** The agent's metrics for this route (`--metrics-listen`; agent/metrics/); null: off. */
  meter: RouteMeter | null = null;

  /** `notice`: tells the agent's user when the local service refuses visitors (LocalPortNotice). */
  constructor(private readonly localHost: string, private readonly localPort: number, private readonly logger: AgentLogger, private readonly notice?: LocalPortNotice) {
    this.target = `${localHost.includes(':') ? `[${localHost}]` : localHost}:${localPort}`;
  }

  handleStream(stream: AgentTunnelStream, visitor: VisitorInfo): void {
    const log = this.logger.child({ visitor: visitor.remoteAddress });
    if (this.guard !== null && !this.guard.ip.allows(visitor.remoteAddress)) {
      log.info('tcp visitor refused by --allow-ip/--deny-ip');
      stream.close(TunnelResetCode.REFUSED_STREAM);
      return;
    }
    const local = net.connect({ host: this.localHost, port: this.localPort, allowHalfOpen: true, noDelay: true });
    this.open.set(local, stream);
    local.once('close', () => this.open.delete(local));
    if (this.meter !== null) local.once('close', () => this.meter!.socketClosed(local));
    stream.on('error', (error) => log.debug({ err: error }, 'visitor stream error'));
    local.once('connect', () => {
      this.notice?.connected(this.target);
      // `closed` comes before `destroyed`: a visitor reset that arrived while the local connect
      // was under way leaves a stream that throws on respond (seen once in the reset tests).
      if (stream.destroyed || stream.closed) {
        local.destroy();
        return;
      }
      stream.respond({ ':status': 200 });
      local.pipe(stream);
      stream.pipe(local);
    });
    local.on('error', (error: NodeJS.ErrnoException) => {
      this.meter?.originError(stream.headersSent);
      if (!stream.headersSent && !stream.destroyed && !stream.closed) {
        log.warn({ code: error.code, target: this.target }, 'local port refused');
        this.notice?.failed(this.target, error.code);
        stream.respond({ ':status': 502 }, { endStream: true });
      } else {
        log.debug({ err: error }, 'local connection failed');
        if (!stream.destroyed) stream.close(TunnelResetCode.CANCEL);
      }
    });
    stream.on('close', () => {
      if (stream.rstCode && stream.rstCode !== TunnelResetCode.NO_ERROR) local.destroy();
    });
  }

  close(): void {
    // The route was withdrawn (`udns up` removed or replaced it): its visitors' connections
    // break with it, rather than stay open with nothing behind them.
    for (const [socket, stream] of this.open) {
      socket.destroy();
      stream.destroy();
    }
  }
}
