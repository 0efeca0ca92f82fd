import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  AgentMessage,
  ControlChannel,
  HANDSHAKE_TIMEOUT_MS,
  MAX_ROUTES_PER_TUNNEL,
  PROTOCOL_VERSION,
  UdnsError,
  controlStreamHeaders,
  isUdnsError,
  createEdgeMux,
  TunnelResetCode,
  visitorStreamHeaders,
  type DirectFailure,
  type EdgeTunnelMux,
  type EdgeTunnelStream,
  type EdgeMessage,
  type IndexBatch,
  type ListShare,
  type OfferDirect,
  type OfferTransfer,
  type TransferAccepted,
  type TransferChecked,
  type TransferFailed,
  type TransferServed,
  type TransferTicket,
  type RegisterRoute,
  type RouteKind,
  type SaleClosed,
  type SaleDeclined,
  type SaleOffered,
  type SaleRequested,
  type UnlistShare,
  type VisitorInfo,
  type MuxKind,
} from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { AccountInfo } from '../accounts/account-store.js';
import type { RecordedTunnel, TunnelRecorder } from '../transfers/relay-recorder.js';
import { VisitorSlots, type VisitorKind, type VisitorSlot, type VisitorSlotLimits } from './visitor-slots.js';
import type { IndexSyncSession, IndexSyncTunnel } from '../search/index-sync-session.js';

/** What the registry answers a route registration with. */
export type RegistrationResult =
  | { ok: true; routeId: string; kind: RouteKind; name?: string; port?: number; url: string }
  | { ok: false; error: UdnsError };

/** The edge-side hooks a tunnel session calls into (implemented by the tunnel registry). */
export interface TunnelHost {
  registerRoute(tunnel: TunnelSession, request: RegisterRoute): Promise<RegistrationResult>;
  unregisterRoute(tunnel: TunnelSession, routeId: string): void;
  /** Starts checking a route's direct mode; throws a UdnsError when the route cannot have it. */
  offerDirect(tunnel: TunnelSession, request: OfferDirect): void;
  tunnelClosed(tunnel: TunnelSession): void;
  /** Transfer paths (server/transfers/): the agent's offers, ticket answers and served reports. */
  transferMessage?(tunnel: TunnelSession, message: OfferTransfer | TransferAccepted | TransferFailed | TransferServed): void;
  /** The escrow (server/exchange/): a seller's agent's answers to sale requests. */
  saleMessage?(tunnel: TunnelSession, message: SaleOffered | SaleDeclined): void;
  /** The agent listed the share of route `routeId` (again): the escrow re-sends its open sale requests. */
  shareListed?(tunnel: TunnelSession, routeId: string): void;
  /** Counts bytes relayed between visitors and this tunnel, both ways (the edge's relay counter). */
  countRelayed?(bytes: number): void;
  /** The transfer records of a new tunnel's visitor streams (server/transfers/), or null when the edge keeps none. */
  openTransferRecorder?(tunnel: RecordedTunnel): TunnelRecorder | null;
  /** The members' index sync for a new tunnel (server/search/), or null when the edge has none. */
  openIndexSync?(tunnel: IndexSyncTunnel): IndexSyncSession | null;
  /** Visitor connections each tunnel may carry, in all and per client network. */
  readonly visitorLimits: VisitorSlotLimits;
}

/** A route as the session remembers it, for the status API. */
export interface SessionRoute {
  routeId: string;
  kind: RouteKind;
  name?: string;
  port?: number;
  url: string;
  target: string;
  /** Direct mode: absent when off; `reachable` null until the first check is done. */
  direct?: DirectStatus;
}

/** Outcome of a route's latest direct check, as the status API shows it. */
export interface DirectStatus {
  port: number;
  reachable: boolean | null;
  address?: string;
  reason?: DirectFailure;
}

const EDGE_VERSION = '0.1.0';
/** How long the agent gets to reset a visitor stream the edge asked it to cancel. */
const CANCEL_FALLBACK_MS = 10_000;

/**
 * One agent's live tunnel on the edge: the mux (protocol/tunnel-mux.ts) over its transport, the control channel,
 * and the routes it registered. Emits `'close'` once, when the tunnel is gone for any reason.
 */
export class TunnelSession extends EventEmitter {
  readonly id = randomBytes(6).toString('hex');
  readonly connectedAt = new Date();
  readonly routes = new Map<string, SessionRoute>();
  private readonly mux: EdgeTunnelMux;
  private control: ControlChannel<typeof AgentMessage, EdgeMessage> | null = null;
  private welcomed = false;
  private closed = false;
  /** Registrations awaiting the database: counted against the route limit too. */
  private registering = 0;
  /** The agent resets visitor streams when asked (CancelStream) instead of being sent RST_STREAM. */
  private agentCancelsStreams = false;
  /** Each visitor stream's place in the limits, freed when it closes or is cancelled. */
  private readonly slotOf = new Map<EdgeTunnelStream, VisitorSlot>();
  private readonly visitorSlots: VisitorSlots;
  /** listShare, indexBatch and unlistShare go here; null when the edge keeps no index. */
  private readonly index: IndexSyncSession | null;
  /** Meters visitor streams and takes the agent's transferReports; null when the edge keeps no records. */
  private readonly records: TunnelRecorder | null;

  constructor(
    transport: Duplex,
    readonly account: AccountInfo,
    readonly remoteAddress: string,
    /** Asks the account store again whether this tunnel's token is still valid. */
    private readonly stillAuthorized: () => Promise<boolean>,
    private readonly host: TunnelHost,
    readonly logger: Logger,
    /** Which multiplexer the upgrade agreed on (frames when the agent offered them). */
    readonly muxKind: MuxKind = 'http2',
  ) {
    super();
    this.logger = logger.child({ tunnel: this.id, account: account.name, mux: muxKind });
    this.visitorSlots = new VisitorSlots(host.visitorLimits, Date.now, () => (this.mux.remoteSettings.maxConcurrentStreams ?? Infinity) - 1);
    this.index = host.openIndexSync?.({
      id: this.id,
      accountId: account.id,
      logger: this.logger,
      httpRouteLabel: (routeId) => this.httpRouteName(routeId),
      holdsRoute: (routeId) => this.routes.has(routeId),
      send: (message) => this.control?.send(message),
      fail: (error) => this.fail(error),
    }) ?? null;
    this.records = host.openTransferRecorder?.({
      id: this.id,
      account,
      logger: this.logger,
      routeLabel: (routeId) => this.httpRouteName(routeId),
    }) ?? null;
    this.mux = createEdgeMux(transport, muxKind);
    this.mux.once('close', () => this.finish('transport closed'));
    this.openControl();
  }

  /** True while visitors can be sent down this tunnel. */
  get alive(): boolean {
    return !this.closed && !this.mux.destroyed && !this.mux.closed;
  }

  /**
   * Opens a stream for one visitor connection, or returns `'busy'` when the tunnel (or the
   * visitor's network) already carries as many as it may and no idle connection can make room
   * (see VisitorSlots: `reclaim` closes this visitor's connection when it is idle and a
   * newcomer needs its place, or when it idled too long; only `http` connections make room). Bytes may be written
   * at once, before the agent answers: the first byte then reaches the origin one round trip sooner.
   * @throws when the mux is already closing
   */
  openVisitorStream(info: VisitorInfo, options: { kind: VisitorKind; reclaim: () => void }): { stream: EdgeTunnelStream; slot: VisitorSlot } | 'busy' {
    const slot = this.visitorSlots.admit(info.remoteAddress, { ...options, viaTrustedProxy: info.forwardedTrusted === true });
    if (slot === null) return 'busy';
    let stream: EdgeTunnelStream;
    try {
      stream = this.mux.request(visitorStreamHeaders(info), { endStream: false });
    } catch (error) {
      slot.release();
      throw error;
    }
    this.slotOf.set(stream, slot);
    this.records?.opened(stream, info);
    stream.once('close', () => {
      slot.release();
      this.slotOf.delete(stream);
    });
    return { stream, slot };
  }

  /** Closes visitor connections that idled past their limits (see VisitorSlots.closeIdle). */
  closeIdleVisitors(): number {
    return this.visitorSlots.closeIdle();
  }

  /** Visitor connections this tunnel carries now, in all or (given an address) from that address's network. */
  visitorCount(address?: string): number {
    return address === undefined ? this.visitorSlots.size : this.visitorSlots.heldBy(address);
  }

  /**
   * Ends a visitor stream whose visitor went away before the exchange finished. The agent is
   * asked to reset it (see CancelStream for why the edge avoids RST_STREAM); the edge resets it
   * itself only for an agent that cannot be asked, or one that has not done it in time.
   */
  cancelVisitorStream(stream: EdgeTunnelStream): void {
    if (stream.destroyed) return;
    if (!this.agentCancelsStreams || !this.control || stream.id === undefined || !this.alive) {
      stream.close(TunnelResetCode.CANCEL);
      return;
    }
    this.control.send({ type: 'cancelStream', streamId: stream.id });
    // The stream waits for the agent's reset, but its visitor is gone already.
    this.slotOf.get(stream)?.release();
    stream.resume();
    const fallback = setTimeout(() => {
      if (!stream.destroyed) stream.close(TunnelResetCode.CANCEL);
    }, CANCEL_FALLBACK_MS);
    fallback.unref();
    stream.once('close', () => clearTimeout(fallback));
  }

  /** Tells the agent a route was taken away (e.g. replaced by a newer tunnel) and forgets it. */
  closeRoute(routeId: string, error: UdnsError): void {
    if (!this.routes.delete(routeId)) return;
    this.index?.routeTakenAway(routeId, error.code);
    this.control?.send({ type: 'routeClosed', routeId, code: error.code, message: error.message });
    this.logger.info({ routeId, code: error.code }, 'route closed by edge');
  }

  /** Records a direct check's new outcome and tells the agent. */
  reportDirect(routeId: string, status: { reachable: boolean; address: string; port: number; reason?: DirectFailure }): void {
    const route = this.routes.get(routeId);
    if (!route) return;
    route.direct = { ...status };
    this.control?.send({ type: 'directChecked', routeId, ...status });
  }

  /** The name of one of this tunnel's http routes (what the index and the records key on), or undefined. */
  private httpRouteName(routeId: string): string | undefined {
    const route = this.routes.get(routeId);
    return route?.kind === 'http' ? route.name : undefined;
  }

  /** Sends the agent a transfer check outcome or ticket (server/transfers/). */
  sendTransfer(message: TransferChecked | TransferTicket): void {
    this.control?.send(message);
  }

  /** Sends the agent a sale request or a sale's end (server/exchange/). */
  sendSale(message: SaleRequested | SaleClosed): void {
    this.control?.send(message);
  }

  /** Counts bytes relayed through this tunnel for a visitor (server/proxy/visitor-bridge.ts). */
  countRelayed(bytes: number): void {
    this.host.countRelayed?.(bytes);
  }

  /** Ends the tunnel with `unauthorized` when its token was revoked since it connected. */
  async recheckAuthorization(): Promise<void> {
    if (this.closed) return;
    let authorized: boolean;
    try {
      authorized = await this.stillAuthorized();
    } catch (error) {
      // The database being briefly unavailable must not cut every tunnel: try next round.
      this.logger.warn({ err: error }, 'could not re-check the tunnel token');
      return;
    }
    if (!authorized) this.fail(new UdnsError('unauthorized', 'token revoked (or its account suspended): run `udns login` with a valid token'));
  }

  /** Ends the tunnel with an error the agent is told first (`unauthorized` makes it stop, not reconnect). */
  end(error: UdnsError): void {
    this.fail(error);
  }

  /** Ends the tunnel: GOAWAY to the agent, then the transport goes. */
  close(reason: string): void {
    if (this.closed) return;
    this.logger.info({ reason }, 'closing tunnel');
    this.mux.close();
    // A peer that never answers the GOAWAY must not keep the tunnel half alive.
    setTimeout(() => this.mux.destroy(), 2000).unref();
    this.finish(reason);
  }

  private openControl(): void {
    const stream = this.mux.request(controlStreamHeaders(), { endStream: false });
    stream.on('response', (headers) => {
      if (headers[':status'] !== 200) this.fail(new UdnsError('protocol_violation', `agent refused the control stream (${headers[':status']})`));
    });
    const control = new ControlChannel<typeof AgentMessage, EdgeMessage>(stream, AgentMessage);
    this.control = control;
    const handshakeTimer = setTimeout(() => {
      if (!this.welcomed) this.fail(new UdnsError('protocol_violation', 'no hello from the agent in time'));
    }, HANDSHAKE_TIMEOUT_MS);
    handshakeTimer.unref();
    control.on('message', (message: AgentMessage) => {
      this.onControlMessage(message).catch((error: unknown) => {
        // A misbehaving agent is the agent's problem (warn, its own code); anything else is ours.
        if (isUdnsError(error)) {
          this.fail(error);
          return;
        }
        this.logger.error({ err: error }, 'control message failed');
        this.fail(new UdnsError('internal', 'the edge failed to handle a control message'));
      });
    });
    control.on('error', (error: UdnsError) => this.fail(error));
    control.on('close', () => {
      clearTimeout(handshakeTimer);
      this.close('control stream closed');
    });
  }

  private async onControlMessage(message: AgentMessage): Promise<void> {
    if (message.type === 'hello') {
      if (this.welcomed) throw new UdnsError('protocol_violation', 'second hello');
      this.welcomed = true;
      this.agentCancelsStreams = message.features?.includes('cancel-stream') ?? false;
      this.logger.info({ agentVersion: message.agentVersion, remoteAddress: this.remoteAddress }, 'tunnel up');
      this.control?.send({
        type: 'welcome', protocolVersion: PROTOCOL_VERSION, edgeVersion: EDGE_VERSION,
        account: this.account.name, tunnelId: this.id,
      });
      return;
    }
    if (!this.welcomed) {
      this.fail(new UdnsError('protocol_violation', 'hello must come first'));
      return;
    }
    if (message.type === 'registerRoute') {
      await this.onRegisterRoute(message);
    } else if (message.type === 'unregisterRoute') {
      if (this.routes.delete(message.routeId)) {
        this.host.unregisterRoute(this, message.routeId);
        this.index?.routeWithdrawn(message.routeId);
      }
    } else if (message.type === 'offerDirect') {
      const route = this.routes.get(message.routeId);
      // A route the edge just closed may still be offered: the routeClosed is on its way.
      if (!route) return;
      if (route.kind !== 'http') throw new UdnsError('route_invalid', 'direct mode is only for this tunnel\'s http routes');
      // One offer per route and tunnel: each costs the edge an outbound check.
      if (route.direct) throw new UdnsError('protocol_violation', 'direct mode offered twice for one route');
      route.direct = { port: message.port, reachable: null };
      this.host.offerDirect(this, message);
    } else if (message.type === 'offerTransfer' || message.type === 'transferAccepted' || message.type === 'transferFailed' || message.type === 'transferServed') {
      // A route the edge just closed may still be offered: the routeClosed is on its way.
      if (message.type === 'offerTransfer' && this.routes.get(message.routeId)?.kind !== 'http') return;
      this.host.transferMessage?.(this, message);
    } else if (message.type === 'transferReport') {
      // Refused, not fatal: a report may come late for a stream the edge has forgotten.
      const refusal = this.records === null ? new UdnsError('forbidden', 'this edge keeps no transfer records') : this.records.report(message);
      if (refusal !== null) {
        this.logger.debug({ code: refusal.code, reason: refusal.message }, 'transfer report refused');
        this.control?.send({ type: 'transferReportRefused', reportId: message.reportId, code: refusal.code, message: refusal.message });
      }
    } else if (message.type === 'listShare' || message.type === 'indexBatch' || message.type === 'unlistShare') {
      this.onIndexMessage(message);
      if (message.type === 'listShare' && this.routes.get(message.routeId)?.kind === 'http') this.host.shareListed?.(this, message.routeId);
    } else if (message.type === 'saleOffered' || message.type === 'saleDeclined') {
      this.host.saleMessage?.(this, message);
    }
  }

  /** The members' index sync: handed over in order, without waiting (IndexSyncSession queues them). */
  private onIndexMessage(message: ListShare | IndexBatch | UnlistShare): void {
    if (this.index !== null) {
      this.index.receive(message);
    } else if (message.type === 'listShare') {
      this.control?.send({ type: 'indexRefused', routeId: message.routeId, code: 'forbidden', message: 'this edge keeps no index of shares' });
    } else if (message.type === 'indexBatch') {
      throw new UdnsError('protocol_violation', 'indexBatch for a share that is not listed on this tunnel');
    }
  }

  private async onRegisterRoute(request: RegisterRoute): Promise<void> {
    if (this.routes.size + this.registering >= MAX_ROUTES_PER_TUNNEL) {
      this.refuse(request.requestId, new UdnsError('route_limit', `a tunnel may carry at most ${MAX_ROUTES_PER_TUNNEL} routes`));
      return;
    }
    this.registering++;
    let result: RegistrationResult;
    try {
      result = await this.host.registerRoute(this, request);
    } finally {
      this.registering--;
    }
    if (!result.ok) {
      this.refuse(request.requestId, result.error);
      return;
    }
    if (this.closed) {
      this.host.unregisterRoute(this, result.routeId);
      return;
    }
    const { routeId, kind, name, port, url } = result;
    this.routes.set(routeId, { routeId, kind, name, port, url, target: request.target });
    this.logger.info({ routeId, kind, name, port, target: request.target }, 'route registered');
    this.control?.send({ type: 'routeRegistered', requestId: request.requestId, routeId, kind, name, port, url });
  }

  private refuse(requestId: number, error: UdnsError): void {
    this.logger.info({ code: error.code, reason: error.message }, 'route refused');
    this.control?.send({ type: 'routeRefused', requestId, code: error.code, message: error.message });
  }

  private fail(error: UdnsError): void {
    if (this.closed) return;
    this.logger.warn({ code: error.code, reason: error.message }, 'tunnel failed');
    this.control?.send({ type: 'error', code: error.code, message: error.message });
    this.close(error.message);
  }

  private finish(reason: string): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.routes.clear();
    this.index?.tunnelClosed();
    this.records?.close();
    this.host.tunnelClosed(this);
    this.logger.info({ reason }, 'tunnel down');
    this.emit('close');
  }
}
