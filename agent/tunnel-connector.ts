import { EventEmitter } from 'node:events';
import type { AgentMetrics } from './metrics/agent-metrics.js';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  AGENT_FEATURES,
  ControlChannel,
  DIRECT_KEY_BYTES,
  EdgeMessage,
  HANDSHAKE_TIMEOUT_MS,
  PROTOCOL_VERSION,
  TunnelResetCode,
  UdnsError,
  createAgentMux,
  isControlStream,
  parseVisitorStreamHeaders,
  type AgentMessage,
  type AgentTunnelMux,
  type AgentTunnelStream,
  type RouteRegistered,
  type MuxKind,
} from '../protocol/index.js';
import type { AgentLogger } from './agent-logger.js';
import { Backoff } from './backoff.js';
import { IndexSyncClient } from './index/index-sync-client.js';
import type { DirectListener } from './routes/direct-listener.js';
import type { PrivateAccess } from '../protocol/private-route.js';
import type { RouteAccessWire } from '../protocol/route-access.js';
import type { RouteHandler } from './routes/route-handler.js';
import type { TransferAgent } from './transfer/transfer-agent.js';
import { EdgeDownError, RetryLaterError, dialTunnel, type DialedTunnel, type TlsTrust, type TransportKind } from './tunnel-dialer.js';

/** One route the agent keeps published across reconnects. */
export interface ManagedRoute {
  readonly kind: 'http' | 'tcp';
  /** Wanted name (http); after the first registration, the name the edge gave. */
  name?: string;
  /** Public port the edge gave a tcp route, asked for again after a reconnect. */
  port?: number;
  readonly target: string;
  readonly handler: RouteHandler;
  /** Direct mode (http only): the agent's own listener for visitors, offered to the edge. */
  readonly direct?: DirectListener;
  /** A private route (`--private`): the members allowed; its `name` names it for `udns connect`. */
  readonly private?: PrivateAccess;
  /** Who may visit (`--basic-auth`, `--allow-ip`, `--deny-ip`), as the edge gets it: passwords as salted hashes. */
  readonly access?: RouteAccessWire;
}

/** A route as published by the edge. */
export interface PublishedRoute {
  readonly kind: 'http' | 'tcp';
  readonly url: string;
  readonly name?: string;
  readonly port?: number;
  readonly target: string;
}

/**
 * Keeps the agent's tunnel up: dials, does the hello/welcome handshake, registers every route,
 * serves the visitor streams, and on any loss reconnects forever with backoff.
 *
 * Events: `'online'` (account, routes), `'offline'` (reason, delayMs), `'routeClosed'` (route,
 * UdnsError), `'direct'` (route, DirectChecked: the edge's direct check changed), `'fatal'`
 * (UdnsError: the token was rejected or no route is left; it stops).
 */
export class TunnelConnector extends EventEmitter {
  private readonly backoff = new Backoff();
  private readonly routeIds = new Map<string, ManagedRoute>();
  /** The agent's metrics (`--metrics-listen`; agent/metrics/): visitor streams by route. */
  metrics: AgentMetrics | null = null;
  private mux: AgentTunnelMux | null = null;
  /** Visitor streams of the current tunnel by id, for the edge's CancelStream. */
  private readonly visitorStreams = new Map<number, AgentTunnelStream>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private everOnline = false;
  /** The live tunnel's control channel once welcomed, for routes added or removed while up. */
  private liveControl: ControlChannel<typeof EdgeMessage, AgentMessage> | null = null;
  /** Registrations sent after the handshake, by request id (ids above the start-up ones). */
  private readonly lateRequests = new Map<number, { route: ManagedRoute; done: (error: UdnsError | null, published?: PublishedRoute) => void }>();
  private nextRequestId = 1_000_000;
  /** The members' index sync of the live tunnel (agent/index/), for routes withdrawn and a clean stop. */
  private liveIndex: IndexSyncClient | null = null;
  /** Direct and push transfers of the share routes (agent/transfer/), when the agent has any; see {@link useTransfers}. */
  transfers: TransferAgent | null = null;
  /** The edge's address as the current tunnel reached it, for transfers opened while it runs. */
  private edgeAddress: string | null = null;

  constructor(
    private readonly serverUrl: URL,
    private readonly token: string,
    private readonly transport: TransportKind,
    private readonly managed: ManagedRoute[],
    private readonly agentVersion: string,
    private readonly logger: AgentLogger,
    private readonly trust: TlsTrust = {},
    /** The multiplexer offered on each connection; the edge's 101 says which one runs. */
    private readonly muxOffered: MuxKind = 'frames',
  ) {
    super();
  }

  /**
   * Connects and publishes every route once. Resolves with the published routes; rejects on the
   * first failure (server unreachable, token rejected, a route refused) without retrying, so
   * the CLI can report bad input at once. After that, losses are retried forever.
   */
  async start(): Promise<PublishedRoute[]> {
    try {
      const published = await this.connectOnce();
      this.everOnline = true;
      return published;
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  /**
   * Publishes one more route on the live tunnel (and on every reconnect after), leaving the
   * other routes' visitors alone. Resolves once the edge published it; when offline, once the
   * next tunnel does. Rejects with the edge's refusal, and the route is then dropped.
   */
  addRoute(route: ManagedRoute): Promise<PublishedRoute | null> {
    this.managed.push(route);
    const control = this.liveControl;
    if (control === null) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const requestId = this.nextRequestId++;
      this.lateRequests.set(requestId, {
        route,
        done: (error, published) => {
          if (error === null) {
            resolve(published ?? null);
            return;
          }
          const index = this.managed.indexOf(route);
          if (index !== -1) this.managed.splice(index, 1);
          route.handler.close();
          route.direct?.close();
          reject(error);
        },
      });
      control.send({
        type: 'registerRoute', requestId, kind: route.kind, target: route.target,
        ...(route.kind === 'http' && route.name ? { name: route.name } : {}),
        ...privateFields(route),
        ...accessFields(route),
        // A tcp route that replaces one (an edit of its rules) asks for the port visitors know.
        ...(route.kind === 'tcp' && route.port ? { preferredPort: route.port } : {}),
      });
    });
  }

  /**
   * Withdraws one route: the edge stops sending its visitors, its own open streams end, and the
   * other routes keep theirs. The last route may go too: the agent then stays connected, empty.
   */
  removeRoute(route: ManagedRoute): void {
    const index = this.managed.indexOf(route);
    if (index === -1) return;
    this.managed.splice(index, 1);
    for (const [routeId, owned] of this.routeIds) {
      if (owned !== route) continue;
      this.routeIds.delete(routeId);
      this.liveIndex?.unlist(routeId);
      this.liveControl?.send({ type: 'unregisterRoute', routeId });
    }
    route.handler.close();
    route.direct?.close();
  }

  /**
   * Gives the agent its transfer port: at start, or later when `udns up` adds its first share
   * (the live tunnel then offers it with the next share route adopted). Emits `transferChecked`
   * for each outcome of the edge's probe of the port.
   */
  useTransfers(transfers: TransferAgent): void {
    this.transfers = transfers;
    transfers.on('checked', (checked: unknown) => this.emit('transferChecked', checked));
    transfers.tunnelUp(this.edgeAddress, (message) => this.liveControl?.send(message));
  }

  /** Closes the tunnel and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Listed shares leave the index (a lost tunnel would only mark them offline); the session's
    // destroy still sends what was written before it.
    this.liveIndex?.unlistAll();
    this.mux?.close();
    this.mux?.destroy();
    this.transfers?.close();
    for (const route of this.managed) {
      route.handler.close();
      route.direct?.close();
    }
  }

  private async connectOnce(): Promise<PublishedRoute[]> {
    const transport = await dialTunnel(this.serverUrl, this.token, this.transport, this.trust, this.muxOffered);
    if (this.stopped) {
      transport.destroy();
      throw new UdnsError('internal', 'agent stopped');
    }
    // Direct-mode checks must come from the edge this tunnel reached (see DirectListener).
    for (const route of this.managed) if (route.direct) route.direct.edgeAddress = transport.edgeAddress ?? null;
    this.edgeAddress = transport.edgeAddress ?? null;
    this.transfers?.tunnelUp(this.edgeAddress, (message) => this.liveControl?.send(message));
    return new Promise<PublishedRoute[]>((resolve, reject) => this.runSession(transport, resolve, reject));
  }

  private runSession(transport: DialedTunnel, resolve: (routes: PublishedRoute[]) => void, reject: (error: UdnsError) => void): void {
    const mux = createAgentMux(transport, transport.mux);
    this.mux = mux;
    this.routeIds.clear();
    this.visitorStreams.clear();
    let settled = false;
    let fatal: UdnsError | null = null;
    const settle = (error: UdnsError | null, routes?: PublishedRoute[]): void => {
      if (settled) return;
      settled = true;
      clearTimeout(handshakeTimer);
      if (error) {
        reject(error);
        mux.destroy();
      } else {
        resolve(routes!);
      }
    };
    const handshakeTimer = setTimeout(() => settle(new UdnsError('server_unreachable', 'the server did not complete the tunnel handshake in time')), HANDSHAKE_TIMEOUT_MS);

    // An edge that breaks the protocol gets this session ended; the agent reconnects.
    const refuseEdge = (reason: string): void => {
      this.logger.warn({ code: 'protocol_violation', reason }, 'the edge broke the tunnel protocol, reconnecting');
      mux.destroy();
    };
    let control: ControlChannel<typeof EdgeMessage, AgentMessage> | null = null;
    mux.on('stream', (stream, headers) => {
      // From the start, whatever becomes of the stream: a session that ends with an error
      // destroys every stream still open with it, and one refused with a 404 below (its
      // visitor's side not ended yet) had no listener, so 1000 refused streams and a protocol
      // error were 1000 uncaught exceptions, the first of which ended the agent.
      stream.on('error', (error) => this.logger.debug({ err: error }, 'tunnel stream failed'));
      if (isControlStream(headers)) {
        if (control !== null) {
          stream.close(TunnelResetCode.PROTOCOL_ERROR);
          refuseEdge('a second control stream');
          return;
        }
        stream.respond({ ':status': 200 });
        control = new ControlChannel<typeof EdgeMessage, AgentMessage>(stream, EdgeMessage);
        // A tunnel without its control stream can neither publish nor take routes back: when
        // it ends (the edge ended it, or sent a message the channel refused) the session ends
        // too. Before, a bad welcome waited for the 10 s handshake deadline and a bad message
        // later left the agent online with no control at all while the edge kept the mux up.
        control.on('close', () => {
          // Not from inside this callback: it can run while Node's http2 is still handing received
          // frames to nghttp2 (its stream-close callback runs queued ticks; seen with the burst
          // an agent reads after being frozen past the heartbeat), and destroying the session
          // there resets every visitor stream re-entrantly: Node's SendPendingData then spun at
          // 100% CPU forever and the agent never came back (test/chaos/frozen-agent.chaos.ts).
          setImmediate(() => {
            if (!mux.destroyed) mux.destroy();
          });
        });
        this.runControl(control, settle, (error) => { fatal = error; }, refuseEdge);
        return;
      }
      // Every visitor stream, refused ones too: the edge cancels those as well (CancelStream).
      if (stream.id !== undefined) {
        const id = stream.id;
        this.visitorStreams.set(id, stream);
        // Ids restart with each tunnel: forget only this stream, not a newer one with its id.
        stream.once('close', () => {
          if (this.visitorStreams.get(id) === stream) this.visitorStreams.delete(id);
        });
      }
      const visitor = parseVisitorStreamHeaders(headers);
      const route = visitor ? this.routeIds.get(visitor.routeId) : undefined;
      if (!visitor || !route) {
        stream.respond({ ':status': 404 }, { endStream: true });
        return;
      }
      this.metrics?.visitorStream(route, stream);
      route.handler.handleStream(stream, visitor);
    });

    mux.once('close', () => {
      if (this.mux === mux) this.mux = null;
      if (!settled) {
        settle(fatal ?? new UdnsError('server_unreachable', 'the tunnel closed during the handshake'));
        return;
      }
      if (this.stopped) return;
      if (fatal) {
        this.stop();
        this.emit('fatal', fatal);
        return;
      }
      this.scheduleReconnect('tunnel lost');
    });
  }

  private runControl(
    control: ControlChannel<typeof EdgeMessage, AgentMessage>,
    settle: (error: UdnsError | null, routes?: PublishedRoute[]) => void,
    setFatal: (error: UdnsError) => void,
    refuseEdge: (reason: string) => void,
  ): void {
    const pending = new Map<number, ManagedRoute>();
    const published: PublishedRoute[] = [];
    let account = '';
    let welcomed = false;
    const directKey = randomBytes(DIRECT_KEY_BYTES).toString('hex');
    const index = new IndexSyncClient((message) => control.send(message), this.logger.child({ component: 'index' }));
    this.liveIndex = index;
    control.once('close', () => {
      index.close();
      if (this.liveIndex === index) this.liveIndex = null;
    });
    control.on('error', (error: UdnsError) => this.logger.warn({ code: error.code, reason: error.message }, 'control channel failed'));
    // Once every route is answered the handshake is over: settle it (its timer would otherwise
    // tear the tunnel down) and report the tunnel online, unless no route is left to serve.
    const finishIfAnswered = (): void => {
      if (pending.size > 0 || this.managed.length === 0) return;
      this.backoff.reset();
      settle(null, published);
      this.emit('online', account, published);
    };
    control.on('message', (message: EdgeMessage) => {
      switch (message.type) {
        case 'welcome':
          // A second welcome would register every route again: the real edge refuses those
          // as already served, and the agent would drop them (and stop once none is left).
          if (welcomed) {
            refuseEdge('a second welcome');
            return;
          }
          welcomed = true;
          account = message.account;
          this.liveControl = control;
          control.once('close', () => {
            if (this.liveControl === control) this.liveControl = null;
            // Registrations in flight are sent again by the next tunnel, with every route.
            for (const [, late] of this.lateRequests) late.done(null, undefined);
            this.lateRequests.clear();
          });
          // A fresh secret per tunnel: a key seen on an old connection proves nothing now.
          for (const route of this.managed) if (route.direct) route.direct.key = directKey;
          this.logger.info({ tunnel: message.tunnelId, account }, 'tunnel up');
          this.managed.forEach((route, requestId) => {
            pending.set(requestId, route);
            control.send({
              type: 'registerRoute', requestId, kind: route.kind, target: route.target,
              ...(route.kind === 'http' && route.name ? { name: route.name } : {}),
              ...privateFields(route),
              ...accessFields(route),
              ...(route.kind === 'tcp' && route.port ? { preferredPort: route.port } : {}),
            });
          });
          break;
        case 'routeRegistered': {
          const late = this.lateRequests.get(message.requestId);
          if (late !== undefined) {
            this.lateRequests.delete(message.requestId);
            this.adopt(late.route, message);
            late.done(null, { kind: late.route.kind, url: message.url, name: message.name, port: message.port, target: late.route.target });
            return;
          }
          const route = pending.get(message.requestId);
          if (!route) return;
          pending.delete(message.requestId);
          this.adopt(route, message);
          if (route.direct) control.send({ type: 'offerDirect', routeId: message.routeId, port: route.direct.port, key: directKey });
          published.push({ kind: route.kind, url: message.url, name: message.name, port: message.port, target: route.target });
          finishIfAnswered();
          break;
        }
        case 'routeRefused': {
          const late = this.lateRequests.get(message.requestId);
          if (late !== undefined) {
            this.lateRequests.delete(message.requestId);
            late.done(new UdnsError(message.code, message.message));
            return;
          }
          const route = pending.get(message.requestId);
          pending.delete(message.requestId);
          const error = new UdnsError(message.code, message.message);
          if (!this.everOnline) {
            settle(error);
            return;
          }
          // Refused on a reconnect (say the name was released meanwhile): drop it, keep the rest.
          if (route) this.dropRoute(route, error);
          finishIfAnswered();
          break;
        }
        case 'routeClosed': {
          const route = this.routeIds.get(message.routeId);
          this.routeIds.delete(message.routeId);
          index.forget(message.routeId);
          if (route) this.dropRoute(route, new UdnsError(message.code, message.message));
          break;
        }
        case 'directChecked': {
          const route = this.routeIds.get(message.routeId);
          if (route) this.emit('direct', route, message);
          break;
        }
        case 'transferChecked':
        case 'transferTicket':
          this.transfers?.onMessage(message);
          break;
        case 'transferReportRefused':
          this.logger.debug({ code: message.code, reason: message.message }, 'edge refused a transfer report');
          break;
        case 'indexWanted':
        case 'indexAck':
        case 'indexRefused':
          index.handle(message);
          break;
        case 'saleRequested': {
          const route = this.routeIds.get(message.routeId);
          const desk = route?.handler.sales ?? null;
          if (route === undefined || desk === null) {
            control.send({ type: 'saleDeclined', saleId: message.saleId, reason: 'not for sale' });
            break;
          }
          // Sealing takes a while: the answer goes on whichever tunnel is up when it is ready
          // (SaleOffered names the sale, not the route).
          void desk.request(message, { seller: account, share: route.name ?? '' }).then((answer) => (this.liveControl ?? control).send(answer));
          break;
        }
        case 'saleClosed':
          for (const route of this.managed) route.handler.sales?.forget(message.saleId);
          break;
        case 'cancelStream': {
          this.visitorStreams.get(message.streamId)?.close(TunnelResetCode.CANCEL);
          break;
        }
        case 'error': {
          const error = new UdnsError(message.code, message.message);
          if (message.code === 'unauthorized' || message.code === 'protocol_version') setFatal(error);
          this.logger.warn({ code: message.code, reason: message.message }, 'edge reported an error');
          break;
        }
      }
    });
    control.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: this.agentVersion, features: [...AGENT_FEATURES] });
  }

  private adopt(route: ManagedRoute, registered: RouteRegistered): void {
    this.routeIds.set(registered.routeId, route);
    if (registered.name) route.name = registered.name;
    if (registered.port) route.port = registered.port;
    route.handler.published?.(registered.url);
    if (route.handler.listed) this.liveIndex?.list(registered.routeId, route.handler.listed);
    // Only on the tunnel that carried the stream: stream ids start again on the next one.
    const live = this.liveControl;
    route.handler.reportTransfers?.((report) => {
      if (live !== null && this.liveControl === live) live.send({ type: 'transferReport', routeId: registered.routeId, ...report });
    });
    this.transfers?.routeAdopted(registered.routeId, route.handler);
  }

  private dropRoute(route: ManagedRoute, error: UdnsError): void {
    const index = this.managed.indexOf(route);
    if (index !== -1) this.managed.splice(index, 1);
    route.handler.close();
    route.direct?.close();
    this.emit('routeClosed', route, error);
    if (this.managed.length === 0) {
      this.stop();
      this.emit('fatal', new UdnsError(error.code, `no route left to serve: ${error.message}`));
    }
  }

  /**
   * `notBeforeMs`: the wait an edge asked for (429 Retry-After), never cut short. `edgeDown`: the
   * edge refused or reset the connection, so the next try comes within about a second.
   */
  private scheduleReconnect(reason: string, notBeforeMs = 0, edgeDown = false): void {
    const delayMs = this.backoff.next(notBeforeMs, edgeDown);
    this.emit('offline', reason, delayMs);
    this.logger.info({ reason, delayMs }, 'reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      this.connectOnce().catch((error: unknown) => {
        if (this.stopped) return;
        if (error instanceof UdnsError && (error.code === 'unauthorized' || error.code === 'protocol_version' || error.code === 'tls_untrusted')) {
          this.stop();
          this.emit('fatal', error);
          return;
        }
        // A refused route on reconnect was already handled; the mux close schedules the next try.
        if (this.mux === null) {
          this.scheduleReconnect(error instanceof Error ? error.message : 'connect failed', error instanceof RetryLaterError ? error.retryAfterMs : 0, error instanceof EdgeDownError);
        }
      });
    }, delayMs);
  }
}

/** What a private route adds to its registration: the members, and its name for tcp routes too. */
function privateFields(route: ManagedRoute): { private?: PrivateAccess; name?: string } {
  if (route.private === undefined) return {};
  return { private: route.private, ...(route.name ? { name: route.name } : {}) };
}

/** A route's access rules, for its registration (absent without rules: older edges refuse the key). */
function accessFields(route: ManagedRoute): { access?: RouteAccessWire } {
  return route.access === undefined ? {} : { access: route.access };
}
