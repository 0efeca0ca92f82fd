import net from 'node:net';
import tls from 'node:tls';
import {
  DIRECT_CHECK_REFUSED,
  directCheckAnswer,
  directCheckNonce,
  isTlsHandshakeByte,
  plainAddress,
  pskServerOptions,
} from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import { listenOnPort } from '../listen-on-port.js';

/** A connection that sends nothing for this long is dropped. */
const FIRST_BYTES_TIMEOUT_MS = 15_000;
/** A TLS handshake that has not finished by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * The agent's transfer port (`--transfer-port`, default an ephemeral one, every interface: a
 * receiver on another network must reach it). Two kinds of connection arrive here, told apart
 * by the first byte: the edge's reachability probe (plain HTTP, answered only to the edge this
 * agent's tunnel reached, as DirectListener does), and receivers' TLS-PSK connections, whose
 * key `keyFor` finds by the ticket id they name. A finished handshake goes to `onSecure`.
 */
export class TransferListener {
  /** Hex key of the current tunnel's probe proof; null before the first tunnel. */
  key: string | null = null;
  /** Address of the edge the tunnel reached: only it may ask for the proof. */
  edgeAddress: string | null = null;
  private readonly server: net.Server;
  private readonly tlsServer: tls.Server;
  private readonly open = new Set<net.Socket>();
  private boundPort = 0;

  constructor(
    private readonly wantedPort: number,
    keyFor: (identity: string, socket: tls.TLSSocket) => Buffer | null,
    onSecure: (socket: tls.TLSSocket) => void,
    private readonly logger: AgentLogger,
  ) {
    this.server = net.createServer({ allowHalfOpen: false, noDelay: true }, (socket) => this.accept(socket));
    this.tlsServer = tls.createServer({
      ...pskServerOptions(() => null),
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      pskCallback: (socket: tls.TLSSocket, identity: string) => keyFor(identity, socket),
    } as tls.TlsOptions, (socket) => {
      socket.setTimeout(0);
      onSecure(socket);
    });
    // A failed handshake (unknown or used ticket, wrong key, garbage) is the peer's problem.
    this.tlsServer.on('tlsClientError', (error, socket) => {
      this.logger.info({ code: (error as NodeJS.ErrnoException).code, from: plainAddress(socket.remoteAddress ?? '') }, 'transfer connection refused');
      socket.destroy();
    });
  }

  /** The bound port (the wanted one, or the ephemeral one chosen). */
  get port(): number {
    return this.boundPort;
  }

  /** Binds on all interfaces. @throws UdnsError `config_invalid` when the port is taken. */
  async listen(): Promise<void> {
    this.boundPort = await listenOnPort(this.server, this.wantedPort, '--transfer-port');
    this.server.on('error', (error) => this.logger.warn({ err: error }, 'transfer listener failed'));
  }

  close(): void {
    this.server.close();
    for (const socket of this.open) socket.destroy();
  }

  private accept(socket: net.Socket): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    // Receivers and scanners resetting connections is everyday noise.
    socket.on('error', (error) => this.logger.debug({ err: error }, 'transfer socket error'));
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      if (isTlsHandshakeByte(chunk[0])) {
        // The TLS server's handshake timeout guards it from here (the raw socket's own timer
        // would not see the TLS socket's traffic).
        socket.setTimeout(0);
        socket.unshift(chunk);
        this.tlsServer.emit('connection', socket);
        return;
      }
      socket.setTimeout(0);
      const nonce = directCheckNonce(chunk);
      const from = plainAddress(socket.remoteAddress ?? '');
      if (nonce === null || this.edgeAddress === null || from !== plainAddress(this.edgeAddress)) {
        if (nonce !== null) this.logger.warn({ from }, 'transfer probe from an address that is not the edge: refused');
        socket.end(DIRECT_CHECK_REFUSED);
        return;
      }
      socket.end(directCheckAnswer(this.key, nonce));
    });
  }
}
