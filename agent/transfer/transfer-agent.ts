import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import tls from 'node:tls';
import {
  DIRECT_KEY_BYTES,
  clientErrorLogFields,
  plainAddress,
  pskClientOptions,
  type AgentMessage,
  type EdgeMessage,
  type TransferFailure,
  type TransferServed,
  type TransferTicket,
} from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import type { RouteHandler } from '../routes/route-handler.js';
import { countBodyBytes } from '../share/served-file-meter.js';
import { ShareRoute } from '../share/share-route.js';
import { TicketBook } from './transfer-tickets.js';
import { TransferSlots } from './transfer-slots.js';
import { TransferListener } from './transfer-listener.js';

/** How long the agent tries to reach a receiver's listener for a push. */
const PUSH_CONNECT_TIMEOUT_MS = 10_000;
/** A direct or push connection with no byte either way for this long is closed. */
const TRANSFER_IDLE_MS = 60_000;

/** Where the agent reports what it served over direct and push (H7's transfer records hook onto it). */
export type TransferServedReporter = (served: TransferServed) => void;

/** One TLS connection serving one ticket. */
interface TransferConnection {
  readonly armed: TransferTicket;
  readonly route: ShareRoute;
  readonly startedAt: number;
  bytes: number;
  complete: boolean;
}

/**
 * The agent's half of the direct and push transfer paths for its share routes. The connector
 * tells it each tunnel (`tunnelUp`: the edge's address, a fresh probe key), each share route the
 * edge registered (`routeAdopted`: offered to the edge with `offerTransfer`) and the edge's
 * transfer messages. Each ticket opens one TLS-PSK connection (the receiver's to our transfer
 * port, or ours to the receiver's listener for a push) on which the share's own HTTP server
 * answers only the ticket's file: any other path gets 403, and only GET and HEAD are allowed.
 */
export class TransferAgent extends EventEmitter {
  private readonly book = new TicketBook();
  readonly listener: TransferListener;
  /** Share routes by route id of the current tunnel. */
  private readonly routes = new Map<string, ShareRoute>();
  /** Open direct and push connections per share and receiver (MAX_TRANSFERS_PER_SHARE, _PER_RECEIVER). */
  private readonly slots = new TransferSlots<ShareRoute>();
  /** The slot release of each direct connection whose handshake took a ticket. */
  private readonly claims = new WeakMap<object, () => void>();
  private readonly connections = new WeakMap<object, TransferConnection>();
  private readonly http: http.Server;
  private key = randomBytes(DIRECT_KEY_BYTES).toString('hex');
  private send: ((message: AgentMessage) => void) | null = null;
  /** Set by whoever keeps transfer records; see {@link TransferServedReporter}. */
  reportServed: TransferServedReporter | null = null;

  private readonly sockets = new Set<tls.TLSSocket>();

  /**
   * `publicPort`: the port receivers reach the listener on, when a router forwards another
   * port to it (default: the listener's own). Emits `'connection'` (socket, via) for each
   * direct or push connection it serves, `'checked'` (TransferChecked) when the edge's probe
   * of the transfer port changed its outcome.
   */
  constructor(port: number, private readonly logger: AgentLogger, private readonly publicPort?: number) {
    super();
    this.listener = new TransferListener(port, (identity, socket) => this.keyFor(identity, socket), (socket) => {
      const armed = this.book.usedBy(socket);
      if (!armed) {
        socket.destroy();
        return;
      }
      this.serve(socket, armed.ticket, 'direct');
    }, logger.child({ component: 'transfer-listener' }));
    this.http = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => this.handle(req, res));
    this.http.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      this.logger.debug(clientErrorLogFields(error), 'bad request on a transfer connection');
      socket.destroy();
    });
  }

  async listen(): Promise<void> {
    await this.listener.listen();
  }

  /** A new tunnel to the edge at `edgeAddress`: a fresh probe key, route ids start over. */
  tunnelUp(edgeAddress: string | null, send: (message: AgentMessage) => void): void {
    this.key = randomBytes(DIRECT_KEY_BYTES).toString('hex');
    this.listener.key = this.key;
    this.listener.edgeAddress = edgeAddress;
    this.send = send;
    this.routes.clear();
  }

  /**
   * A route the edge registered: share routes are offered for transfers, others ignored. A
   * share with access rules (`--basic-auth`, `--allow-ip`) is not: a ticket's direct or push
   * connection would pass by the rules the edge and the share route check.
   */
  routeAdopted(routeId: string, route: RouteHandler): void {
    if (!(route instanceof ShareRoute) || route.hasAccessRules) return;
    this.routes.set(routeId, route);
    this.send?.({ type: 'offerTransfer', routeId, port: this.publicPort ?? this.listener.port, key: this.key });
  }

  /** Handles the edge's transfer messages; false for any other message. */
  onMessage(message: EdgeMessage): boolean {
    if (message.type === 'transferChecked') {
      this.logger.info({ reachable: message.reachable, address: message.address, port: message.port, reason: message.reason }, 'transfer port check');
      this.emit('checked', message);
      return true;
    }
    if (message.type !== 'transferTicket') return false;
    const route = this.routes.get(message.routeId);
    if (route === undefined) return this.refuse(message, 'not a share');
    if (message.mode === 'push') {
      if (message.receiver === undefined) return this.refuse(message, 'push refused');
      // The dial is a connection from now on: it holds a slot of the share and of its receiver.
      const release = this.slots.claim(route, message.holder);
      if (release === null) return this.refuse(message, 'busy');
      this.send?.({ type: 'transferAccepted', ticketId: message.ticketId });
      this.push(message, route, release);
      return true;
    }
    // Only open connections fill a share: an unused ticket holds no slot (it is bounded in the
    // book instead, per receiver and per share), so nobody can make the share busy by asking.
    if (!this.slots.admits(route, message.holder)) return this.refuse(message, 'busy');
    const outcome = this.book.arm(message);
    if (!outcome.armed) return this.refuse(message, 'busy');
    if (outcome.replaced.length > 0) {
      this.logger.info({ ticket: message.ticketId.slice(0, 8), replaced: outcome.replaced.map((id) => id.slice(0, 8)) }, 'transfer tickets replaced by a newer one of the same receiver');
    }
    this.send?.({ type: 'transferAccepted', ticketId: message.ticketId });
    return true;
  }

  /**
   * The key for a receiver's handshake naming `identity`; null refuses it. The handshake that
   * takes a ticket takes a connection slot too, so a share serves at most
   * MAX_TRANSFERS_PER_SHARE at once whatever the number of tickets armed.
   */
  private keyFor(identity: string, socket: tls.TLSSocket): Buffer | null {
    const armed = this.book.take(identity, socket, 'direct');
    if (armed === null) return null;
    if (this.claims.has(socket)) return armed.psk;
    const route = this.routes.get(armed.ticket.routeId);
    const release = route === undefined ? null : this.slots.claim(route, armed.ticket.holder);
    if (release === null) {
      // Used up either way: the receiver falls back to push or the relay.
      this.book.drop(identity);
      this.logger.info({ ticket: identity.slice(0, 8), reason: route === undefined ? 'not a share' : 'busy' }, 'transfer connection refused');
      return null;
    }
    this.claims.set(socket, release);
    // A failed handshake closes the socket too: the slot and the ticket go with it.
    socket.once('close', () => {
      release();
      this.book.drop(identity);
    });
    return armed.psk;
  }

  close(): void {
    this.listener.close();
    this.dropConnections();
  }

  /** Ends every direct and push connection being served (the receivers fall back and resume). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private refuse(ticket: TransferTicket, reason: TransferFailure): true {
    this.logger.info({ ticket: ticket.ticketId.slice(0, 8), reason }, 'transfer ticket refused');
    this.send?.({ type: 'transferFailed', ticketId: ticket.ticketId, reason });
    return true;
  }

  /** Push: connects out to the receiver and serves the ticket's file on that connection. */
  private push(ticket: TransferTicket, route: ShareRoute, release: () => void): void {
    const receiver = ticket.receiver!;
    const log = this.logger.child({ ticket: ticket.ticketId.slice(0, 8), receiver: `${receiver.address}:${receiver.port}` });
    const socket = tls.connect({ host: receiver.address, port: receiver.port, ...pskClientOptions(ticket.ticketId, ticket.psk) });
    socket.once('close', release);
    let secure = false;
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('push connection timed out'), { code: 'ETIMEDOUT' })), PUSH_CONNECT_TIMEOUT_MS);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (secure) {
        log.debug({ err: error }, 'push connection failed');
        return;
      }
      clearTimeout(timer);
      log.info({ code: error.code ?? error.message }, 'push failed');
      this.send?.({ type: 'transferFailed', ticketId: ticket.ticketId, reason: 'push failed' });
    });
    socket.once('secureConnect', () => {
      secure = true;
      clearTimeout(timer);
      this.serve(socket, ticket, 'push', route);
    });
  }

  /** Serves one ticket's connection with the share's HTTP, until either side ends it. */
  private serve(socket: tls.TLSSocket, ticket: TransferTicket, via: 'direct' | 'push', route = this.routes.get(ticket.routeId)): void {
    this.book.drop(ticket.ticketId);
    if (route === undefined) {
      socket.destroy();
      return;
    }
    const connection: TransferConnection = { armed: ticket, route, startedAt: Date.now(), bytes: 0, complete: false };
    this.connections.set(socket, connection);
    this.sockets.add(socket);
    socket.on('error', (error) => this.logger.debug({ err: error }, 'transfer connection error'));
    socket.setTimeout(TRANSFER_IDLE_MS, () => socket.destroy());
    socket.once('close', () => {
      this.sockets.delete(socket);
      const served: TransferServed = {
        type: 'transferServed', ticketId: ticket.ticketId, routeId: ticket.routeId, path: ticket.path, via,
        bytes: connection.bytes, complete: connection.complete, startedAt: connection.startedAt, endedAt: Date.now(),
      };
      this.logger.info({ ticket: ticket.ticketId.slice(0, 8), via, path: ticket.path, bytes: served.bytes, complete: served.complete }, 'transfer served');
      this.send?.(served);
      this.reportServed?.(served);
    });
    this.logger.info({ ticket: ticket.ticketId.slice(0, 8), via, path: ticket.path, peer: plainAddress(socket.remoteAddress ?? '') }, 'transfer connection open');
    this.emit('connection', socket, via);
    this.http.emit('connection', socket);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const connection = this.connections.get(req.socket);
    if (connection === undefined) {
      res.writeHead(403).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('a transfer ticket only reads its file\n');
      return;
    }
    if (pathOf(req.url ?? '') !== connection.armed.path) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('this transfer ticket is for another file\n');
      return;
    }
    const counting = req.method === 'GET' && !(req.url ?? '').includes('?');
    if (counting) {
      connection.complete = false;
      countBodyBytes(res, (bytes) => {
        connection.bytes += bytes;
      });
      res.once('finish', () => {
        connection.complete = res.statusCode === 200 || res.statusCode === 206;
      });
    }
    connection.route.server.handle(req, res);
  }
}

/** The decoded path of a request target, without its query; null when it does not decode. */
function pathOf(target: string): string | null {
  try {
    return decodeURIComponent(new URL(target, 'http://transfer.invalid').pathname);
  } catch {
    return null;
  }
}
