import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import {
  TransferGrant,
  UdnsError,
  isUdnsError,
  pskClientOptions,
  type TransferPath,
  type TransferRequest,
} from '../../protocol/index.js';
import { callEdge } from '../edge-api.js';
import type { EdgeTarget } from '../client-config.js';
import type { ReceiverListener } from './receiver-listener.js';
import type { ShareTransport } from './share-http.js';

/** The commands (by their note function) already told that their forced relay is not linked to them. */
const relayNoted = new WeakSet<(line: string) => void>();

/** How long `udns get` tries to open a direct connection to the sharer (the edge probed it within the last minute; a firewall that went up since costs this long before push). */
const DIRECT_CONNECT_TIMEOUT_MS = 5_000;

/**
 * The three transfer paths for one file of `udns get`, seen from the receiver. Before each
 * request the download asks {@link dispatcher}: relay is the plain request to the edge (null);
 * direct and push are an http.Agent whose one connection is a TLS-PSK socket opened with a
 * fresh ticket from the edge (POST /api/v1/transfers), to the sharer's port (direct) or
 * accepted from the sharer's agent on our listener (push). HTTP on it is what the share serves
 * anyway, so Range resume, progress and `?checksum=sha256` work unchanged on every path.
 *
 * A connection that fails (refused, timed out, TLS error such as a tampered byte, closed in the
 * middle of an answer) marks its path failed: the next request asks the edge again, avoiding it,
 * so the download falls back direct → push → relay and resumes from the `.part` offset. A forced
 * path (`--via`) is retried alone, each time with a new ticket.
 */
export class TransferPaths implements ShareTransport {
  /** Paths taken, in order (one entry per change). */
  readonly taken: TransferPath[] = [];
  private readonly avoid = new Set<TransferPath>();
  private relay = false;
  private pending: Exclude<TransferGrant, { via: 'relay' }> | null = null;
  private socket: tls.TLSSocket | null = null;
  private readonly agent: http.Agent;

  constructor(
    private readonly edge: EdgeTarget,
    private readonly fileUrl: URL,
    private readonly receiver: ReceiverListener | null,
    private readonly forced: TransferPath | undefined,
    private readonly note: (line: string) => void,
    /** Where tickets come from: `/api/v1/transfers` for a shared file; a bought file's sale has its own (`/api/v1/purchases/<id>/transfer`, no url in the body). */
    private readonly grantPath = '/api/v1/transfers',
  ) {
    // A forced relay still asks the edge once (below): its relay grant is how the transfer
    // records name this member as the receiver instead of an anonymous network.
    if (forced === 'relay') this.taken.push('relay');
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // The agent asks for a connection whenever it has no free one: each is one ticket.
    type Connect = (options: unknown, done: (error: Error | null, socket?: net.Socket) => void) => undefined;
    (this.agent as unknown as { createConnection: Connect }).createConnection = (options, done) => this.connect(options, done);
  }

  async dispatcher(): Promise<http.Agent | null> {
    if (this.relay) return null;
    if (this.forced === 'relay') {
      this.relay = true;
      await this.announceRelay();
      return null;
    }
    if (this.socket !== null && !this.socket.destroyed) return this.agent;
    const grant = await this.ask();
    if (grant.via === 'relay') {
      this.relay = true;
      this.took('relay');
      return null;
    }
    this.pending = grant;
    return this.agent;
  }

  close(): void {
    this.agent.destroy();
    this.socket?.destroy();
  }

  /**
   * Tells the edge that this member fetches the file through it. The relayed bytes carry no
   * credential, so without this grant the record names an anonymous network. The relay itself
   * needs no ticket: any refusal (offline share, rate limit) is one note and the download goes on.
   */
  private async announceRelay(): Promise<void> {
    try {
      await this.ask();
    } catch (error) {
      if (!isUdnsError(error)) throw error;
      // Once per command (one note function per command): a folder would repeat it per file.
      if (relayNoted.has(this.note)) return;
      relayNoted.add(this.note);
      this.note(`the edge does not record these relay downloads as yours (${error.message}); downloading through the edge anyway`);
    }
  }

  private async ask(): Promise<TransferGrant> {
    const body: Partial<TransferRequest> = {
      ...(this.grantPath === '/api/v1/transfers' ? { url: this.fileUrl.href } : {}),
      ...(this.receiver ? { receiverPort: this.receiver.port, receiverKey: this.receiver.key } : {}),
      ...(this.forced ? { via: this.forced } : { avoid: [...this.avoid] }),
    };
    let answer: unknown;
    try {
      answer = await callEdge<unknown>(this.edge, 'POST', this.grantPath, body);
    } catch (error) {
      // Not a share of this edge, offline (the relay retries), or too many tickets asked from
      // this network lately: the URL's own host, as any visitor would.
      if (this.forced === undefined && (isUdnsError(error, 'bad_request') || isUdnsError(error, 'not_found') || isUdnsError(error, 'rate_limited'))) {
        return { via: 'relay' };
      }
      throw error;
    }
    const parsed = TransferGrant.safeParse(answer);
    if (!parsed.success) throw new UdnsError('protocol_violation', 'the edge answered the transfer request with an unexpected document');
    return parsed.data;
  }

  private connect(_options: unknown, done: (error: Error | null, socket?: net.Socket) => void): undefined {
    const grant = this.pending;
    this.pending = null;
    if (grant === null) {
      // The agent wants another connection for a ticket already used: the next request asks anew.
      done(Object.assign(new Error('transfer connection closed'), { code: 'ECONNRESET' }));
      return undefined;
    }
    const opened = grant.via === 'direct' ? this.dial(grant.address, grant.port, grant.ticketId, grant.psk) : this.awaitPush(grant.ticketId, grant.psk);
    opened.then((socket) => {
      this.socket = socket;
      this.took(grant.via);
      socket.on('error', () => this.failed(grant.via));
      socket.once('close', () => {
        if (this.socket === socket) this.socket = null;
        // Closed while a request was using it: the path broke in the middle of an answer.
        if ((socket as { _httpMessage?: unknown })._httpMessage) this.failed(grant.via);
      });
      done(null, socket);
    }, (error: Error) => {
      this.failed(grant.via);
      done(error);
    });
    return undefined;
  }

  private dial(host: string, port: number, ticketId: string, psk: string): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host, port, ...pskClientOptions(ticketId, psk) });
      socket.setTimeout(DIRECT_CONNECT_TIMEOUT_MS, () => socket.destroy(Object.assign(new Error('direct connection timed out'), { code: 'ETIMEDOUT' })));
      socket.once('secureConnect', () => {
        socket.setTimeout(0);
        resolve(socket);
      });
      // For the socket's whole life: a second error after the first must not go unhandled.
      socket.on('error', reject);
    });
  }

  private awaitPush(ticketId: string, psk: string): Promise<tls.TLSSocket> {
    if (this.receiver === null) return Promise.reject(Object.assign(new Error('no receiver listener'), { code: 'ECONNREFUSED' }));
    return this.receiver.expect(ticketId, psk);
  }

  private failed(via: TransferPath): void {
    if (this.forced !== undefined || this.avoid.has(via)) return;
    this.avoid.add(via);
    this.note(`the ${via} path broke; trying the next one`);
  }

  private took(via: TransferPath): void {
    if (this.taken[this.taken.length - 1] !== via) this.taken.push(via);
  }
}
