import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import { UdnsError, clientErrorLogFields, isUdnsError, rawHttpAnswer } from '../protocol/index.js';
import { AcmeCertificates } from './acme/acme-certificates.js';
import { acmeFiles } from './acme/acme-files.js';
import { ChallengeRecords } from './acme/challenge-records.js';
import { makeSelfSignedCredentials } from './acme/self-signed.js';
import { AdminTokenHandover } from './admin-token-handover.js';
import { absentNameAnswer } from './api/absent-name.js';
import { appRequestFields } from './observe/refused-request.js';
import { createEdgeApp } from './api/edge-app.js';
import { openAccountStore, type AccountStore } from './accounts/account-store.js';
import { TokenGate, type TokenGateOptions, type TokenGateStats } from './accounts/token-gate.js';
import type { EdgeConfig } from './config.js';
import { startDnsServer, type DnsServerHandle } from './dns/dns-server.js';
import { DNS_LISTENER, HTTP_LISTENER, HTTPS_LISTENER, listenFailure, listenOrExplain } from './listen-failure.js';
import { createLogger, type Logger } from './logger.js';
import { NameDirectory } from './name-directory.js';
import { createFrontDoor, releaseApexDeadline } from './proxy/front-door.js';
import { createTlsListener, loadTlsCredentials, replaceTlsCredentials, type TlsCredentials } from './proxy/tls-listener.js';
import { TcpForwards } from './proxy/tcp-forwards.js';
import { PublicUrls } from './public-urls.js';
import { createTunnelEndpoint } from './tunnel/tunnel-endpoint.js';
import { TunnelRegistry } from './tunnel/tunnel-registry.js';
import { openExchangeRooms } from './exchange/exchange-rooms.js';
import { IndexSync, indexSyncSettings } from './search/index-sync.js';
import { createSearchIndex } from './search/sql-search-index.js';
import { TicketOffice } from './transfers/ticket-office.js';
import { openTransferLog } from './transfers/transfer-log.js';
import { openTrafficMeter } from './traffic/traffic-meter.js';
import { openAccountLimits } from './quotas/account-limits.js';
import { VisitorQuotas } from './quotas/visitor-quotas.js';
import { TransferRecorder } from './transfers/relay-recorder.js';
import { TransferChecks } from './transfers/transfer-checks.js';
import { ZoneEditor } from './zone-editor.js';
import { openObservability } from './metrics/edge-observability.js';
import { PrivateRoutes } from './private/private-routes.js';
import { createConnectEndpoint, createConnectRouter, isConnectUpgrade } from './private/connect-endpoint.js';
import { openCustomDomains } from './domains/open-custom-domains.js';
import type { DomainRouting } from './domains/custom-domains.js';
import { openConsole } from './console/console.js';
import { clientAddress } from './proxy/trusted-proxies.js';
import { diffConfigs, effectiveConfig, type ReloadOutcome } from './reload.js';
import { parseCaa } from './dns/zone-records.js';

/** A running edge. */
export interface EdgeHandle {
  readonly config: EdgeConfig;
  /** Port the HTTP listener bound (differs from config when it was 0). */
  readonly httpPort: number;
  /** Port the HTTPS listener bound, when --https-port is set. */
  readonly httpsPort: number | undefined;
  readonly dnsUdpPort: number;
  readonly dnsTcpPort: number;
  readonly urls: PublicUrls;
  /** Set on the first start of an empty database: the `admin` token (also in {@link adminTokenFile}). */
  readonly initialAdminToken: string | null;
  /** `<dataDir>/admin-token` (mode 0600) while the first-start admin token in it has not been used, else null. */
  adminTokenFile(): string | null;
  /** The ACME certificate keeper, with `--acme` (its `ready` settles once a CA-issued certificate serves). */
  readonly acme: AcmeCertificates | undefined;
  /** The operator's limits and the traffic meter (`quotas.meter`: bytes per account and name). */
  readonly quotas: VisitorQuotas;
  /** Live tunnels right now. */
  tunnelCount(): number;
  /** Bytes relayed between visitors and tunnels, both ways, since the start (direct and push transfers add none). */
  relayedBytes(): number;
  /** Counters of the token checks at the API, tunnel and dyndns2 entry points. */
  tokenChecks(): TokenGateStats;
  /** Port of the `--metrics-listen` listener, when set. */
  readonly metricsPort: number | undefined;
  /**
   * Applies a new config (`SIGHUP`): log level, TLS certificate files (read again even when
   * their names are unchanged), CAA, HSTS and visitor limits take effect at once; the outcome
   * names the changed keys that only a restart applies. Nothing changes when it throws.
   * @throws UdnsError `config_invalid` when a certificate file cannot be read or a CAA record is malformed
   */
  applyConfig(next: EdgeConfig): ReloadOutcome;
  close(): Promise<void>;
}

/**
 * Starts the edge: database (created or migrated), DNS, the HTTP front door with the tunnel
 * endpoint, API and proxy. Everything listens before this resolves.
 */
export async function startEdge(config: EdgeConfig, options: { logger?: Logger; tokenGate?: TokenGateOptions } = {}): Promise<EdgeHandle> {
  const logger = options.logger ?? createLogger(config.logLevel, 'udns-edge');
  const store = await openAccountStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  const cleanups: Array<() => Promise<void> | void> = [() => store.close()];
  try {
    return await startServices(config, logger, store, cleanups, options.tokenGate);
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup();
    throw error;
  }
}

async function startServices(
  config: EdgeConfig,
  logger: Logger,
  store: AccountStore,
  cleanups: Array<() => Promise<void> | void>,
  tokenGate: TokenGateOptions = {},
): Promise<EdgeHandle> {
  const directory = new NameDirectory(await store.listAllNames(), await store.allRecords());
  const editor = new ZoneEditor(store, directory);
  const tcp = new TcpForwards(config.tcpPorts, config.bind, logger);
  cleanups.push(() => tcp.closeAll());

  const front = net.createServer({ allowHalfOpen: true, noDelay: true });
  const httpPort = await listenOrExplain(front, config.httpPort, config.bind, HTTP_LISTENER);
  cleanups.push(() => closeServer(front));

  // The TLS listener is bound before anything prints URLs, which use its port.
  let tlsListener: tls.Server | null = null;
  let httpsPort: number | undefined;
  let onTlsConnection: (socket: tls.TLSSocket) => void = (socket) => socket.destroy();
  const challenges = new ChallengeRecords();
  let acme: AcmeCertificates | undefined;
  // Members' custom domains (server/domains/), opened below: their certificates by SNI.
  let customDomains: DomainRouting | undefined;
  if (config.httpsPort !== undefined) {
    let credentials: TlsCredentials;
    if (config.acme) {
      acme = new AcmeCertificates(
        { domain: config.domain, directoryUrl: config.acmeDirectory, email: config.acmeEmail, ca: config.acmeCa === undefined ? undefined : readAcmeCa(config.acmeCa) },
        acmeFiles(path.join(config.dataDir, 'acme')),
        challenges,
        (fresh) => { if (tlsListener !== null) replaceTlsCredentials(tlsListener, fresh); },
        logger.child({ component: 'acme' }),
      );
      const stored = await acme.loadStored();
      if (stored === null) logger.info('ACME certificate pending: serving a temporary self-signed certificate until it is issued');
      credentials = stored ?? await makeSelfSignedCredentials(config.domain);
      cleanups.push(() => acme?.close());
    } else {
      credentials = loadTlsCredentials(config.tlsCert!, config.tlsKey!);
    }
    const listener = createTlsListener(credentials, (socket) => onTlsConnection(socket), logger, (servername) => customDomains?.secureContext(servername));
    httpsPort = await listenOrExplain(listener, config.httpsPort, config.bind, HTTPS_LISTENER);
    cleanups.push(() => closeServer(listener));
    tlsListener = listener;
  }
  const urls = new PublicUrls(config.domain, httpPort, config.publicUrl, httpsPort);

  // One object shared by every tunnel's VisitorSlots, which read it on each decision: a reload
  // changes it in place and live tunnels follow.
  const visitorLimits = { perTunnel: config.maxVisitorsPerTunnel, perNetwork: config.maxVisitorsPerNetwork, keepAliveIdleMs: config.keepAliveTimeout * 1000 };
  const registry = new TunnelRegistry(editor, directory, tcp, urls, logger, config.tokenRecheckSeconds * 1000, config.directRecheckSeconds * 1000, visitorLimits);
  let current = config;
  // Metrics (`--metrics-listen`, the apex's /metrics for the operator) and the access log.
  const observability = await openObservability({
    config: () => current, registry, tokens: () => tokens, logger,
    traffic: () => trafficMeter.snapshot(), quotaRefusals: () => ({ visitors: quotas.refusedVisitors, names: quotas.refusedNames }),
  });
  cleanups.push(() => observability.close());
  // The members' index, in the member database. Its sync closes after the tunnels (cleanups run
  // in reverse), so their last "offline" marks are written before the database closes.
  const searchIndex = createSearchIndex(store);
  const indexSettings = indexSyncSettings(config);
  const indexSync = new IndexSync(searchIndex, indexSettings, logger.child({ component: 'index' }));
  await indexSync.start();
  registry.indexSync = indexSync;
  cleanups.push(() => indexSync.close());
  const closeTunnels = (): void => registry.closeAll();
  cleanups.push(closeTunnels);
  // Transfer paths: sharers' transfer ports probed like direct routes; tickets for direct and push.
  // The members' index learns each listed share's reachability (direct path) from these probes.
  registry.transferChecks = new TransferChecks(logger.child({ component: 'transfers' }), config.directRecheckSeconds * 1000, (label, reachable) => searchIndex.setReachable(label, reachable));
  const ticketOffice = new TicketOffice(config.domain, registry, registry.transferChecks, logger);
  registry.ticketOffice = ticketOffice;
  // Transfer records: relayed downloads paired with the agent's reports, http connections,
  // direct and push transfers the agents report for their tickets. Closed after the tunnels
  // (cleanups run in reverse), so their last records are written before the database closes.
  const transferLog = openTransferLog(store, { onError: (error, dropped) => { observability.metrics.databaseError('transfer_log'); logger.error({ err: error, dropped }, 'transfer records could not be written'); } });
  const transferRecorder = new TransferRecorder(transferLog, logger.child({ component: 'records' }));
  registry.transferRecorder = transferRecorder;
  ticketOffice.onServed = (served, ticket) => transferRecorder.served(served, ticket);
  ticketOffice.onRelay = (grant) => transferRecorder.expectRelay(grant);
  cleanups.splice(cleanups.indexOf(closeTunnels), 0, () => transferLog.close());
  // Bytes per (account, name), added to the database every few seconds; and the operator's
  // limits (server/quotas/). The meter flushes a last time after the tunnels are closed.
  const trafficMeter = openTrafficMeter(store, { onError: (error) => { observability.metrics.databaseError('traffic_flush'); logger.error({ err: error }, 'traffic counts could not be written; they go with the next flush'); } });
  const quotas = new VisitorQuotas({ limits: openAccountLimits(store), meter: trafficMeter, defaults: () => current, logger: logger.child({ component: 'quotas' }) });
  registry.quotas = quotas;
  cleanups.splice(cleanups.indexOf(closeTunnels), 0, () => trafficMeter.close(), () => quotas.close());
  const adminToken = new AdminTokenHandover(store, config.dataDir, logger);
  // One gate for the API, the tunnel and dyndns2: failed checks are throttled per network.
  const tokens = new TokenGate(adminToken.tokens, { logger: logger.child({ component: 'auth' }), ...tokenGate });
  // The members' index lives in the member database; searches read the settings live (SIGHUP).
  const search = { index: searchIndex, settings: { mode: () => current.search, hideOffline: () => current.searchOffline === 'hide' } };
  // Credits, ledger, escrow and trust: closed before the transfer log and the store.
  const exchange = await openExchangeRooms({ store, registry, config: () => current, urls, logger, transferLog });
  cleanups.splice(cleanups.indexOf(closeTunnels), 0, () => exchange.close());
  // The console (/console, `udns console`): sessions in the database; the operator suspends accounts.
  const edgeConsole = openConsole({
    store, editor, registry, tokens, urls, logger, shares: searchIndex, traffic: trafficMeter, directory,
    clientAddress: (req) => clientAddress(req, config.trustedProxy),
  });
  await edgeConsole.suspension.hideSuspendedRecords();
  // Custom domains (`udns domain …`): claims and proofs in the database, routing from memory.
  const domains = await openCustomDomains({ config, store, logger: logger.child({ component: 'domains' }) });
  cleanups.push(() => domains.close());
  customDomains = domains.routing;
  // Private routes (`--private`, `udns connect`): no name in DNS, no Host routing, no public port.
  const privateRoutes = new PrivateRoutes((label) => store.nameOwner(label), logger.child({ component: 'private' }));
  registry.privateRoutes = privateRoutes;
  const app = createEdgeApp({
    domain: config.domain, tokens, names: store, editor, directory, registry, urls, logger, trustedProxies: config.trustedProxy,
    transfers: ticketOffice, transferRecords: transferLog, search, apiRouters: [...exchange.apiRouters, edgeConsole.apiRouter, createConnectRouter(privateRoutes), domains.router], pageRouters: [...exchange.pageRouters, edgeConsole.pageRouter],
    onDatabaseError: (operation) => observability.metrics.databaseError(operation),
  });
  const httpServer = http.createServer({ requestTimeout: 60_000 }, (req, res) => {
    if (current.hsts && (req.socket as tls.TLSSocket).encrypted) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    if (!observability.serveApex(req, res)) app(req, res);
  });
  httpServer.keepAliveTimeout = 30_000;
  const endpoint = createTunnelEndpoint(tokens, registry, logger, config.trustedProxy);
  const connectEndpoint = createConnectEndpoint({ tokens, routes: privateRoutes, logger: logger.child({ component: 'private' }), trustedProxies: config.trustedProxy, quotas });
  httpServer.on('upgrade', (req, socket, head) => {
    releaseApexDeadline(socket as net.Socket);
    // A WebSocket to a member name whose agent is gone: the same answer as a plain request, not
    // the tunnel endpoint's "no upgrade endpoint". (Agents may reach the endpoint by any other host.)
    const absent = absentNameAnswer(req, config.domain, directory);
    if (absent?.memberName) {
      const answer = rawHttpAnswer(absent.status, `${absent.status} ${absent.title}: ${absent.detail}\n`, { 'Content-Type': 'text/plain; charset=utf-8' });
      socket.end(answer);
      const observer = registry.visitorObserver;
      if (observer?.logsRefusals) observer.refusedUpgradeByApp(req, absent.status === 502 ? 'offline' : 'unknown_name', appRequestFields(req, config.domain), absent.status, answer.length);
      return;
    }
    (isConnectUpgrade(req) ? connectEndpoint : endpoint)(req, socket as net.Socket, head).catch((error: unknown) => {
      logger.error({ err: error }, 'tunnel upgrade failed');
      socket.destroy();
    });
  });
  // Visitors resetting connections is everyday noise, not an edge problem.
  httpServer.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    logger.debug(clientErrorLogFields(error), 'bad request from client');
    if (!socket.writable) socket.destroy();
    else if (error.code === 'HPE_HEADER_OVERFLOW') socket.end(rawHttpAnswer(431, 'request header fields too large\n'));
    else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') socket.end(rawHttpAnswer(408, 'request timeout\n'));
    else socket.end(rawHttpAnswer(400, 'bad request\n'));
  });
  // Plain-HTTP visitors are on https only when a TLS proxy in front says so (--public-url).
  const plainScheme = config.publicUrl?.startsWith('https:') ? 'https' : 'http';
  const plainDoor = createFrontDoor({
    domain: config.domain, scheme: plainScheme, registry, fallback: httpServer, logger, trustedProxies: config.trustedProxy,
    redirectToHttpsPort: config.httpsRedirect ? httpsPort : undefined, customDomains,
  });
  const tlsDoor = createFrontDoor({ domain: config.domain, scheme: 'https', registry, fallback: httpServer, logger, trustedProxies: config.trustedProxy, customDomains });
  // On shutdown, tunnels and visitors are cut rather than drained: agents reconnect anyway.
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  front.on('connection', (socket: net.Socket) => {
    track(socket);
    observability.connection(socket, 'http');
    plainDoor(socket);
  });
  onTlsConnection = (socket) => {
    track(socket);
    observability.connection(socket, 'https');
    tlsDoor(socket);
  };
  tlsListener?.on('error', (error) => logger.error({ err: error }, 'https listener failed'));
  cleanups.push(() => { for (const socket of sockets) socket.destroy(); });
  front.on('error', (error) => logger.error({ err: error }, 'http listener failed'));
  cleanups.push(() => { httpServer.closeAllConnections(); });

  const dns: DnsServerHandle = await startDnsServer({
    zone: {
      domain: config.domain,
      publicIp: config.publicIp,
      publicIp6: config.publicIp6,
      isClaimed: (label) => directory.isClaimed(label),
      serial: () => directory.serial(),
      // A getter: the DNS server reads the zone on every query, so a reload shows at once.
      get caa() { return current.caa; },
      // The edge's own ACME challenge values sit at an owner no member can hold.
      recordsAt: (owner) => {
        const pending = challenges.recordsAt(owner);
        return pending.length === 0 ? directory.zoneRecordsAt(owner) : [...directory.zoneRecordsAt(owner), ...pending];
      },
      hasRecordsBelow: (owner) => directory.hasRecordsBelow(owner),
    },
    port: config.dnsPort,
    bind: config.bind,
    logger: logger.child({ component: 'dns' }),
    onQuery: observability.dnsQuery,
  }).catch((error: unknown) => {
    throw isUdnsError(error, 'port_unavailable') ? listenFailure(DNS_LISTENER, config.bind, config.dnsPort, error.cause) : error;
  });
  cleanups.push(() => dns.close());

  // Only now that everything listens: a start that fails on a taken port must not create an
  // account whose token nobody is shown.
  const initialAdminToken = await adminToken.issue();

  // Ordering needs our DNS up: the CA asks it for the challenge values.
  acme?.start();
  domains.start();
  logger.info({ httpPort, dnsUdpPort: dns.udpPort, dnsTcpPort: dns.tcpPort, domain: config.domain }, 'edge listening');

  let closing: Promise<void> | null = null;
  const applyConfig = (next: EdgeConfig): ReloadOutcome => {
    const outcome = diffConfigs(current, next);
    const fileCertificates = tlsListener !== null && acme === undefined;
    if (!fileCertificates) {
      // Without a file-certificate listener there is nothing to swap: a new one needs a restart.
      const tlsKeys: string[] = outcome.applied.filter((key) => key === 'tlsCert' || key === 'tlsKey');
      outcome.applied = outcome.applied.filter((key) => !tlsKeys.includes(key));
      outcome.needsRestart.push(...tlsKeys);
    }
    // Everything that can fail first, so that a failure changes nothing.
    const credentials = fileCertificates && next.tlsCert !== undefined && next.tlsKey !== undefined ? loadTlsCredentials(next.tlsCert, next.tlsKey) : null;
    const badCaa = next.caa.filter((text) => parseCaa(text) === null);
    if (badCaa.length > 0) throw new UdnsError('config_invalid', `--caa: not a CAA record such as '0 issue "letsencrypt.org"': ${badCaa.join(', ')}`);
    if (credentials !== null) {
      replaceTlsCredentials(tlsListener!, credentials);
      if (!outcome.applied.includes('tlsCert')) outcome.applied.push('tlsCert');
    }
    const fileTls = outcome.needsRestart.includes('tlsCert') || outcome.needsRestart.includes('tlsKey');
    current = effectiveConfig(current, fileTls ? { ...next, tlsCert: current.tlsCert, tlsKey: current.tlsKey } : next);
    logger.level = current.logLevel;
    visitorLimits.perTunnel = current.maxVisitorsPerTunnel;
    visitorLimits.perNetwork = current.maxVisitorsPerNetwork;
    visitorLimits.keepAliveIdleMs = current.keepAliveTimeout * 1000;
    Object.assign(indexSettings, indexSyncSettings(current));
    indexSync.settingsChanged();
    return outcome;
  };

  return {
    get config() { return current; },
    applyConfig,
    httpPort,
    httpsPort,
    dnsUdpPort: dns.udpPort,
    dnsTcpPort: dns.tcpPort,
    urls,
    initialAdminToken,
    adminTokenFile: () => adminToken.pendingFile(),
    acme,
    quotas,
    tunnelCount: () => registry.tunnelCount,
    relayedBytes: () => registry.relayedBytes,
    tokenChecks: () => tokens.stats(),
    metricsPort: observability.metricsPort,
    close: () => {
      closing ??= (async () => {
        for (const cleanup of cleanups.reverse()) await cleanup();
        logger.info('edge stopped');
      })();
      return closing;
    },
  };
}

function readAcmeCa(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot read --acme-ca ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
