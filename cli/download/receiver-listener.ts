import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import {
  DIRECT_CHECK_REFUSED,
  DIRECT_KEY_BYTES,
  directCheckAnswer,
  directCheckNonce,
  isTlsHandshakeByte,
  pskServerOptions,
} from '../../protocol/index.js';
import { listenOnPort } from '../../agent/listen-on-port.js';

/** How long the receiver waits for the sharer's agent to connect for a push. */
export const PUSH_WAIT_MS = 15_000;
/** A connection that sends nothing (or does not finish its handshake) for this long is dropped. */
const SILENCE_MS = 15_000;

interface Expected {
  readonly psk: Buffer;
  resolve(socket: tls.TLSSocket): void;
  reject(error: Error): void;
  taken: object | null;
}

/**
 * The receiving end of the push path, for one `udns get`: listens on every interface (an
 * ephemeral port unless `--receive-port`), answers the edge's probe with the HMAC under this
 * run's own key (so the edge knows the port is ours before it sends a sharer here), and accepts
 * the sharer agent's TLS-PSK connection for a ticket it expects: the connection then carries
 * HTTP with the receiver as the client. Any other identity fails the handshake.
 */
export class ReceiverListener {
  readonly key = randomBytes(DIRECT_KEY_BYTES).toString('hex');
  private readonly server: net.Server;
  private readonly tlsServer: tls.Server;
  private readonly expected = new Map<string, Expected>();
  private readonly open = new Set<net.Socket>();
  /** TLS connections that came before any ticket was expected (the sharer dials as soon as it takes the ticket, the edge's answer with it may come later). */
  private readonly early = new Set<net.Socket>();

  constructor(private readonly wantedPort = 0) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', () => undefined);
    this.tlsServer = tls.createServer({
      ...pskServerOptions(() => null),
      handshakeTimeout: SILENCE_MS,
      pskCallback: (socket: tls.TLSSocket, identity: string) => {
        const expected = this.expected.get(identity);
        if (expected === undefined || (expected.taken !== null && expected.taken !== socket)) return null;
        expected.taken = socket;
        return expected.psk;
      },
    } as tls.TlsOptions, (socket) => {
      // Until the download's HTTP client takes it over, and after: no error goes unhandled.
      socket.on('error', () => undefined);
      socket.setTimeout(0);
      for (const [id, expected] of this.expected) {
        if (expected.taken !== socket) continue;
        this.expected.delete(id);
        expected.resolve(socket);
        return;
      }
      socket.destroy();
    });
    // A wrong key, an unknown ticket, a scanner: the handshake fails and the socket goes.
    this.tlsServer.on('tlsClientError', (_error, socket) => socket.destroy());
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo | null)?.port ?? 0;
  }

  /** @throws UdnsError `config_invalid` when the port is taken */
  async listen(): Promise<void> {
    await listenOnPort(this.server, this.wantedPort, '--receive-port');
  }

  /**
   * Waits for the sharer's agent to connect with ticket `ticketId`.
   * @throws an error with code ETIMEDOUT when it does not come within `timeoutMs`
   */
  expect(ticketId: string, pskHex: string, timeoutMs = PUSH_WAIT_MS): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.expected.delete(ticketId);
        reject(Object.assign(new Error('the sharer did not connect for the push in time'), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      timer.unref();
      this.expected.set(ticketId, {
        psk: Buffer.from(pskHex, 'hex'),
        taken: null,
        resolve: (socket) => {
          clearTimeout(timer);
          resolve(socket);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      for (const socket of this.early) this.handshake(socket);
      this.early.clear();
    });
  }

  close(): void {
    this.server.close();
    for (const socket of this.open) socket.destroy();
    for (const expected of this.expected.values()) expected.reject(Object.assign(new Error('download ended'), { code: 'ECONNABORTED' }));
    this.expected.clear();
  }

  private handshake(socket: net.Socket): void {
    // The TLS server's handshake timeout guards it from here (the raw socket's own timer
    // would not see the TLS socket's traffic).
    socket.setTimeout(0);
    this.tlsServer.emit('connection', socket);
  }

  private accept(socket: net.Socket): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    socket.on('error', () => undefined);
    socket.setTimeout(SILENCE_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      if (isTlsHandshakeByte(chunk[0])) {
        socket.unshift(chunk);
        if (this.expected.size === 0) {
          // Held until the ticket is known (its raw timer still runs), then handshaken.
          this.early.add(socket);
          socket.once('close', () => this.early.delete(socket));
          return;
        }
        this.handshake(socket);
        return;
      }
      socket.setTimeout(0);
      // Anyone may ask for the proof: the key is this run's alone, and the edge only ever sends a
      // push to the address the ticket request came from, so a proof shown to others gains nothing.
      const nonce = directCheckNonce(chunk);
      if (nonce === null) {
        socket.end(DIRECT_CHECK_REFUSED);
        return;
      }
      socket.end(directCheckAnswer(this.key, nonce));
    });
  }
}
