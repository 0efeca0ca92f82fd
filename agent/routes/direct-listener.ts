import net from 'node:net';
import { DIRECT_CHECK_REFUSED, directCheckAnswer, directCheckNonce, plainAddress } from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import { listenOnPort } from '../listen-on-port.js';
import type { HttpRoute } from './http-route.js';

/** A direct visitor that sends nothing for this long is dropped (the edge's front door does the same for tunnel visitors). */
const FIRST_BYTES_TIMEOUT_MS = 15_000;

/**
 * Direct mode (`udns http --direct-port P`): the agent itself accepts visitors on port P of
 * every interface and serves them exactly as tunnel visitors (HttpRoute, scheme http, with
 * X-Forwarded-*). It also answers the edge's reachability check with the proof of the nonce
 * under the current tunnel's direct key, so the edge knows this agent is what answers there.
 */
export class DirectListener {
  /** Hex key of the current tunnel (set by the connector on each connection); null before. */
  key: string | null = null;
  /**
   * Address of the edge the tunnel reached: only it may ask for the proof. Answering anyone let
   * a machine holding the shared public port relay the edge's check to us and take the name.
   */
  edgeAddress: string | null = null;
  private readonly server: net.Server;
  private readonly open = new Set<net.Socket>();

  constructor(readonly port: number, private readonly route: HttpRoute, private readonly logger: AgentLogger) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Binds the port on all interfaces. @throws UdnsError `config_invalid` when it is taken. */
  async listen(): Promise<void> {
    await listenOnPort(this.server, this.port, '--direct-port');
    this.server.on('error', (error) => this.logger.warn({ err: error }, 'direct listener failed'));
  }

  close(): void {
    this.server.close();
    for (const socket of this.open) socket.destroy();
  }

  private accept(socket: net.Socket): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    // Visitors resetting connections is everyday noise.
    socket.on('error', (error) => this.logger.debug({ err: error }, 'direct visitor socket error'));
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      const nonce = directCheckNonce(chunk);
      if (nonce !== null) {
        const from = plainAddress(socket.remoteAddress ?? '');
        if (this.edgeAddress === null || from !== plainAddress(this.edgeAddress)) {
          this.logger.warn({ from }, 'direct check from an address that is not the edge: refused');
          socket.end(DIRECT_CHECK_REFUSED);
          return;
        }
        socket.end(directCheckAnswer(this.key, nonce));
        return;
      }
      socket.unshift(chunk);
      this.route.serve(socket, {
        routeId: 'direct',
        remoteAddress: plainAddress(socket.remoteAddress ?? ''),
        remotePort: socket.remotePort ?? 0,
        scheme: 'http',
        host: `${plainAddress(socket.localAddress ?? '')}:${this.port}`,
      }, () => socket.destroy(), false);
    });
  }
}

