import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  DEFAULT_KEEP_ALIVE_IDLE_MS,
  DEFAULT_VISITOR_STREAMS_PER_NETWORK,
  DEFAULT_VISITOR_STREAMS_PER_TUNNEL,
  DIRECT_RECHECK_INTERVAL_MS,
  UdnsError,
  isUdnsError,
  randomName,
  validateName,
  type OfferDirect,
  type OfferTransfer,
  type TransferAccepted,
  type TransferFailed,
  type TransferServed,
  type RegisterRoute,
  type SaleDeclined,
  type SaleOffered,
} from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import { bridgeVisitor } from '../proxy/visitor-bridge.js';
import type { TcpForward, TcpForwards } from '../proxy/tcp-forwards.js';
import type { PublicUrls } from '../public-urls.js';
import { DirectChecks } from './direct-checks.js';
import type { VisitorSlotLimits } from './visitor-slots.js';
import type { RegistrationResult, TunnelHost, TunnelSession } from './tunnel-session.js';
import type { ZoneEditor } from '../zone-editor.js';
import type { TicketOffice } from '../transfers/ticket-office.js';
import type { TransferChecks } from '../transfers/transfer-checks.js';
import type { RecordedTunnel, TransferRecorder, TunnelRecorder } from '../transfers/relay-recorder.js';
import type { IndexSync } from '../search/index-sync.js';
import type { IndexSyncSession, IndexSyncTunnel } from '../search/index-sync-session.js';
import type { SaleDesk } from '../exchange/sale-desk.js';
import type { PrivateRoutes } from '../private/private-routes.js';
import { BasicAuthThrottle } from '../access/basic-auth-throttle.js';
import { RouteAccessGate } from '../access/route-access-gate.js';
import type { VisitorObserver } from '../observe/visitor-observer.js';
import type { RefusedReason } from '../observe/refused-request.js';
import type { VisitorQuotas } from '../quotas/visitor-quotas.js';

/** Where the registry claims names: the ZoneEditor, which also puts them in DNS. */
type NameClaims = Pick<ZoneEditor, 'claimName'>;

/** A live http route: visitors of `label` go down `tunnel` tagged with `routeId`. */
export interface HttpRouteEntry {
  readonly tunnel: TunnelSession;
  readonly routeId: string;
  readonly label: string;
  /** Who may visit (`--basic-auth`, `--allow-ip`, `--deny-ip`); null: anyone. */
  readonly access: RouteAccessGate | null;
}

type RouteEntry =
  | { kind: 'http'; tunnel: TunnelSession; routeId: string; label: string; access: RouteAccessGate | null }
  | { kind: 'tcp'; tunnel: TunnelSession; routeId: string; forward: TcpForward };

const RANDOM_NAME_ATTEMPTS = 8;
/** How often idle visitor connections are looked for: the idle limits are this much late at most. */
const IDLE_SWEEP_INTERVAL_MS = 5_000;

/** Visitor limits when the edge is given none: what this machine's memory holds (protocol/limits.ts). */
export const DEFAULT_VISITOR_LIMITS: VisitorSlotLimits = Object.freeze({
  perTunnel: DEFAULT_VISITOR_STREAMS_PER_TUNNEL,
  perNetwork: DEFAULT_VISITOR_STREAMS_PER_NETWORK,
  keepAliveIdleMs: DEFAULT_KEEP_ALIVE_IDLE_MS,
});

/**
 * Every live tunnel and route on this edge. Decides who serves a name: the newest tunnel of the
 * owning account wins, so a reconnect after a network change never locks its own name out.
 */
export class TunnelRegistry implements TunnelHost {
  private readonly tunnels = new Set<TunnelSession>();
  private readonly byLabel = new Map<string, HttpRouteEntry>();
  private readonly byRouteId = new Map<string, RouteEntry>();
  /** Transfer paths (server/transfers/), set by the edge; null: offers are ignored (relay only). */
  transferChecks: TransferChecks | null = null;
  ticketOffice: TicketOffice | null = null;
  /** Transfer records (server/transfers/relay-recorder.ts), set by the edge; null: none kept. */
  transferRecorder: TransferRecorder | null = null;
  /** Bytes carried between visitors and tunnels, both ways, since the edge started. */
  relayedBytes = 0;
  /** Metrics and access log of visitor connections (server/observe/), set by the edge; null: none. */
  visitorObserver: VisitorObserver | null = null;
  /** The members' index sync, set by the edge once its store is open; null: listShare is refused. */
  indexSync: IndexSync | null = null;
  /** The escrow's side of the control messages (server/exchange/), set by the exchange rooms; null: sale messages are ignored. */
  saleDesk: Pick<SaleDesk, 'message' | 'shareListed'> | null = null;
  /** The operator's limits and the byte counts per name (server/quotas/), set by the edge; null: none. */
  quotas: VisitorQuotas | null = null;
  /** Private routes (server/private/), set by the edge; null: `private` registrations are refused. */
  privateRoutes: PrivateRoutes | null = null;
  /** The wrong-password budget of every route's `--basic-auth` on this edge (per network and for all). */
  readonly basicAuthThrottle = new BasicAuthThrottle();

  constructor(
    private readonly names: NameClaims,
    private readonly directory: NameDirectory,
    private readonly tcp: TcpForwards,
    private readonly urls: PublicUrls,
    private readonly logger: Logger,
    tokenRecheckMs: number,
    directRecheckMs: number = DIRECT_RECHECK_INTERVAL_MS,
    readonly visitorLimits: VisitorSlotLimits = DEFAULT_VISITOR_LIMITS,
  ) {
    this.direct = new DirectChecks(directory, logger, directRecheckMs);
    this.recheckTimer = setInterval(() => {
      for (const tunnel of this.tunnels) void tunnel.recheckAuthorization();
    }, tokenRecheckMs);
    this.recheckTimer.unref();
    this.idleTimer = setInterval(() => {
      for (const tunnel of this.tunnels) tunnel.closeIdleVisitors();
    }, IDLE_SWEEP_INTERVAL_MS);
    this.idleTimer.unref();
  }

  private readonly recheckTimer: NodeJS.Timeout;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly direct: DirectChecks;

  /** Adds a tunnel that finished its handshake. */
  addTunnel(tunnel: TunnelSession): void {
    this.tunnels.add(tunnel);
  }

  /** The live route serving `label`, if any. */
  lookupHttp(label: string): HttpRouteEntry | undefined {
    const entry = this.byLabel.get(label);
    return entry && entry.tunnel.alive ? entry : undefined;
  }

  /** Live tunnels of one account (for the status API). */
  tunnelsOf(accountId: number): TunnelSession[] {
    return [...this.tunnels].filter((tunnel) => tunnel.account.id === accountId && tunnel.alive);
  }

  /** Every live tunnel (the operator's console). */
  allTunnels(): TunnelSession[] {
    return [...this.tunnels].filter((tunnel) => tunnel.alive);
  }

  /** Ends every tunnel of an account with `error` (a suspension); returns how many. */
  closeAccount(accountId: number, error: UdnsError): number {
    const ending = [...this.tunnels].filter((tunnel) => tunnel.account.id === accountId);
    for (const tunnel of ending) tunnel.end(error);
    if (ending.length > 0) this.logger.info({ accountId, tunnels: ending.length, code: error.code }, 'tunnels of the account ended');
    return ending.length;
  }

  get tunnelCount(): number {
    return this.tunnels.size;
  }

  /** Live routes (http and tcp), for the metrics. */
  get routeCount(): number {
    return this.byRouteId.size;
  }

  async registerRoute(tunnel: TunnelSession, request: RegisterRoute): Promise<RegistrationResult> {
    try {
      // The account's limits read now, so that its first visitors already meet them.
      await this.quotas?.prepare(tunnel.account.id);
      if (request.private !== undefined) {
        if (this.privateRoutes === null) throw new UdnsError('forbidden', 'this edge does not offer private routes');
        return await this.privateRoutes.register(tunnel, request);
      }
      return request.kind === 'http'
        ? await this.registerHttp(tunnel, request)
        : await this.registerTcp(tunnel, request);
    } catch (error) {
      if (isUdnsError(error)) return { ok: false, error };
      throw error;
    }
  }

  offerDirect(tunnel: TunnelSession, request: OfferDirect): void {
    const entry = this.byRouteId.get(request.routeId);
    if (!entry || entry.kind !== 'http' || entry.tunnel !== tunnel) throw new UdnsError('route_invalid', 'direct mode is only for this tunnel\'s http routes');
    this.direct.offer(tunnel, entry.routeId, entry.label, request.port, request.key);
  }

  openTransferRecorder(tunnel: RecordedTunnel): TunnelRecorder | null {
    return this.transferRecorder?.openTunnel(tunnel) ?? null;
  }

  openIndexSync(tunnel: IndexSyncTunnel): IndexSyncSession | null {
    return this.indexSync?.openSession(tunnel) ?? null;
  }

  transferMessage(tunnel: TunnelSession, message: OfferTransfer | TransferAccepted | TransferFailed | TransferServed): void {
    if (message.type !== 'offerTransfer') {
      this.ticketOffice?.onAgentMessage(tunnel, message);
      return;
    }
    const entry = this.byRouteId.get(message.routeId);
    if (entry?.kind === 'http' && entry.tunnel === tunnel) this.transferChecks?.offer(tunnel, entry.label, message);
  }

  saleMessage(tunnel: TunnelSession, message: SaleOffered | SaleDeclined): void {
    this.saleDesk?.message(tunnel, message);
  }

  shareListed(tunnel: TunnelSession, routeId: string): void {
    const entry = this.byRouteId.get(routeId);
    if (entry?.kind === 'http' && entry.tunnel === tunnel) this.saleDesk?.shareListed(tunnel, entry.label);
  }

  countRelayed(bytes: number): void {
    this.relayedBytes += bytes;
  }

  unregisterRoute(_tunnel: TunnelSession, routeId: string): void {
    this.privateRoutes?.unregister(routeId);
    this.direct.withdraw(routeId);
    this.transferChecks?.withdraw(routeId);
    const entry = this.byRouteId.get(routeId);
    if (!entry) return;
    this.byRouteId.delete(routeId);
    if (entry.kind === 'http') {
      if (this.byLabel.get(entry.label)?.routeId === routeId) this.byLabel.delete(entry.label);
    } else {
      void entry.forward.close();
    }
  }

  tunnelClosed(tunnel: TunnelSession): void {
    this.tunnels.delete(tunnel);
    this.privateRoutes?.tunnelClosed(tunnel);
    this.transferChecks?.tunnelClosed(tunnel);
    this.ticketOffice?.tunnelClosed(tunnel);
    for (const [routeId, entry] of this.byRouteId) {
      if (entry.tunnel === tunnel) this.unregisterRoute(tunnel, routeId);
    }
  }

  /** Takes the http route serving `label` away from its tunnel, if any (the name was released). */
  closeName(label: string, error: UdnsError): void {
    const entry = this.byLabel.get(label);
    if (!entry) return;
    this.byLabel.delete(label);
    this.byRouteId.delete(entry.routeId);
    this.direct.withdraw(entry.routeId);
    this.transferChecks?.withdraw(entry.routeId);
    entry.tunnel.closeRoute(entry.routeId, error);
    this.logger.info({ name: label, tunnel: entry.tunnel.id }, 'route closed: name released');
  }

  /** Closes every tunnel (edge shutdown). */
  closeAll(): void {
    clearInterval(this.recheckTimer);
    clearInterval(this.idleTimer);
    this.direct.close();
    this.transferChecks?.close();
    for (const tunnel of this.tunnels) tunnel.close('edge shutting down');
  }

  private async registerHttp(tunnel: TunnelSession, request: RegisterRoute): Promise<RegistrationResult> {
    // Before the name is claimed: malformed rules refuse the route and change nothing.
    const access = RouteAccessGate.of(request.access, 'http', this.basicAuthThrottle);
    const label = request.name === undefined
      ? await this.claimRandomName(tunnel.account.id)
      : await this.claim(tunnel.account.id, validateName(request.name));
    if (!tunnel.alive) throw new UdnsError('internal', 'tunnel closed during registration');

    const previous = this.byLabel.get(label);
    if (previous?.tunnel === tunnel && previous.tunnel.routes.has(previous.routeId)) {
      throw new UdnsError('route_invalid', `this tunnel already serves "${label}"`);
    }
    const routeId = newRouteId();
    const entry: HttpRouteEntry = { tunnel, routeId, label, access };
    this.byLabel.set(label, entry);
    this.byRouteId.set(routeId, { kind: 'http', ...entry });
    if (previous && previous.tunnel !== tunnel) {
      this.byRouteId.delete(previous.routeId);
      this.direct.withdraw(previous.routeId);
      this.transferChecks?.withdraw(previous.routeId);
      previous.tunnel.closeRoute(previous.routeId, new UdnsError('replaced', `"${label}" is now served by another connection of this account`));
      this.logger.info({ name: label, oldTunnel: previous.tunnel.id, newTunnel: tunnel.id }, 'name moved to a newer tunnel');
    }
    return { ok: true, routeId, kind: 'http', name: label, url: this.urls.forName(label) };
  }

  private async registerTcp(tunnel: TunnelSession, request: RegisterRoute): Promise<RegistrationResult> {
    const access = RouteAccessGate.of(request.access, 'tcp', this.basicAuthThrottle);
    const previous = request.preferredPort === undefined ? undefined : this.tcpRouteOnPort(request.preferredPort);
    if (previous && previous.tunnel !== tunnel && previous.tunnel.account.id === tunnel.account.id) {
      // Same account reconnecting before the edge noticed its old tunnel died (a NAT or
      // network change): give it its port back, as a name would be.
      this.byRouteId.delete(previous.routeId);
      previous.tunnel.closeRoute(previous.routeId, new UdnsError('replaced', `port ${request.preferredPort} is now served by another connection of this account`));
      await previous.forward.close();
    }
    const routeId = newRouteId();
    const forward = await this.tcp.open(request.preferredPort, (socket) => this.acceptTcp(tunnel, routeId, socket), access?.ip, (socket) => this.tcpRefused(tunnel, routeId, socket, 'ip_rules'));
    if (!tunnel.alive) {
      void forward.close();
      throw new UdnsError('internal', 'tunnel closed during registration');
    }
    this.byRouteId.set(routeId, { kind: 'tcp', tunnel, routeId, forward });
    return { ok: true, routeId, kind: 'tcp', port: forward.port, url: this.urls.forTcp(forward.port) };
  }

  private tcpRouteOnPort(port: number): Extract<RouteEntry, { kind: 'tcp' }> | undefined {
    for (const entry of this.byRouteId.values()) {
      if (entry.kind === 'tcp' && entry.forward.port === port) return entry;
    }
    return undefined;
  }

  private acceptTcp(tunnel: TunnelSession, routeId: string, socket: Socket): void {
    const log = tunnel.logger.child({ routeId, visitor: socket.remoteAddress });
    const port = socket.localPort ?? 0;
    const name = tunnel.routes.get(routeId)?.name ?? `tcp:${port}`;
    const admission = this.quotas?.admit(tunnel.account, name, routeId);
    if (admission !== undefined && !admission.ok) {
      // A raw TCP visitor cannot be told why: the log line says it.
      log.warn({ route: name, port: socket.localPort, limit: admission.setting, max: admission.limit }, 'tcp visitor refused: concurrent visitors limit reached, connection closed');
      this.tcpRefused(tunnel, routeId, socket, 'visitor_quota');
      socket.destroy();
      return;
    }
    const outcome = tunnel.alive ? bridgeVisitor(socket, tunnel, {
      routeId,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      scheme: 'tcp',
      host: `${this.urls.domain}:${port}`,
    }, null, log, 'tcp', this.visitorObserver?.tcp({ account: tunnel.account.name, name }, port), admission?.quota) : 'tunnel-gone';
    if (outcome !== 'bridged') {
      admission?.quota.release();
      this.tcpRefused(tunnel, routeId, socket, outcome === 'busy' ? 'visitor_limit' : 'offline');
      socket.destroy();
    }
  }

  /** The access-log line of a tcp visitor closed without reaching the agent (with --access-log only). */
  private tcpRefused(tunnel: TunnelSession, routeId: string, socket: Socket, reason: RefusedReason): void {
    const observer = this.visitorObserver;
    if (observer === null || !observer.logsRefusals) return;
    const port = socket.localPort ?? 0;
    observer.refusedConnection(socket, { account: tunnel.account.name, name: tunnel.routes.get(routeId)?.name ?? `tcp:${port}` }, port, reason);
  }

  private async claim(accountId: number, label: string): Promise<string> {
    // The ZoneEditor adds the label to DNS itself, inside its queue (decisions §24).
    if (this.quotas === null) await this.names.claimName(accountId, label);
    else await this.quotas.claimName(accountId, label, () => this.names.claimName(accountId, label));
    return label;
  }

  private async claimRandomName(accountId: number): Promise<string> {
    for (let attempt = 0; attempt < RANDOM_NAME_ATTEMPTS; attempt++) {
      try {
        return await this.claim(accountId, randomName());
      } catch (error) {
        if (!isUdnsError(error, 'name_taken')) throw error;
      }
    }
    throw new UdnsError('internal', 'could not find a free random name, pass --name');
  }
}

function newRouteId(): string {
  return randomBytes(8).toString('hex');
}
