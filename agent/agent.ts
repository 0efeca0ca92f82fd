import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { UdnsError, validateName, type SigningKeyPair } from '../protocol/index.js';
import { createAgentLogger, type AgentLogger } from './agent-logger.js';
import type { PriceRule } from './exchange/price-list.js';
import { HashCache } from './index/hash-cache.js';
import { ListedShare } from './index/listed-share.js';
import { DirectListener } from './routes/direct-listener.js';
import { HttpRoute } from './routes/http-route.js';
import { Inspector } from './inspector/inspector.js';
import { PrivateHttpRoute } from './private/private-http-route.js';
import { PrivateAccess } from '../protocol/private-route.js';
import { LocalPortNotice } from './routes/local-port-notice.js';
import { TcpRoute } from './routes/tcp-route.js';
import { RouteGuard } from './access/route-guard.js';
import { RouteAccessSpec } from '../protocol/route-access.js';
import { ShareOptions } from './share/share-options.js';
import { ShareRoute } from './share/share-route.js';
import { TransferAgent } from './transfer/transfer-agent.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { startAgentMetricsListener, type AgentMetricsListener } from './metrics/agent-metrics-listener.js';
import { TunnelConnector, type ManagedRoute, type PublishedRoute } from './tunnel-connector.js';

export type { ManagedRoute, PublishedRoute } from './tunnel-connector.js';

const localPort = z.number().int().min(1, 'port must be 1-65535').max(65535, 'port must be 1-65535');
const localHost = z.string().min(1).default('127.0.0.1');

/** Private routes are checked by account at the edge; visitor rules are for public ones. */
const PRIVATE_NOT_PUBLIC_RULES = 'a private route is reached by allowed members only: drop --basic-auth, --allow-ip and --deny-ip (they are for public routes)';

/** One thing to expose. */
export const RouteSpec = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('http'), localPort, localHost, name: z.string().optional(),
    /** Direct mode: also accept visitors on this port of every interface (see DirectListener). */
    directPort: localPort.optional(),
    /** A private route: no public URL; reached by these members with `udns connect <name>`. */
    private: PrivateAccess.optional(),
    /** Who may visit (`--basic-auth`, `--allow-ip`, `--deny-ip`): checked by the edge and again here. */
    access: RouteAccessSpec.optional(),
  }).strict(),
  z.object({
    kind: z.literal('tcp'), localPort, localHost,
    /** Who may connect (`--allow-ip`, `--deny-ip`; no Basic auth on raw TCP). */
    access: RouteAccessSpec.optional(),
    /** A private route (see http): its name in `udns connect <name>`; public tcp routes have none. */
    private: PrivateAccess.optional(), name: z.string().optional(),
  }).strict(),
  /** A folder the agent serves itself (`udns share`). */
  ShareOptions.extend({ kind: z.literal('share'), access: RouteAccessSpec.optional() }).strict(),
]);
export type RouteSpec = z.input<typeof RouteSpec>;

/** Everything `startAgent` needs. */
export const AgentOptions = z.object({
  serverUrl: z.url({ protocol: /^https?$/, error: 'server must be an http:// or https:// URL' }),
  token: z.string().min(1, 'a token is required: run `udns login <token>` or pass --token'),
  transport: z.enum(['raw', 'ws']).default('raw'),
  /** The tunnel multiplexer to offer: frames (protocol/frame-mux/; an edge without them answers http2), or http2. */
  mux: z.enum(['frames', 'http2']).default('frames'),
  routes: z.array(RouteSpec).min(1, 'nothing to expose'),
  agentVersion: z.string().default('0.1.0'),
  logLevel: z.string().default('silent'),
  /** Extra CA certificates (PEM text) trusted for an `https://` server. */
  ca: z.string().optional(),
  /** Skip certificate verification of an `https://` server (`--insecure`). */
  insecure: z.boolean().default(false),
  /**
   * Port (every interface) for direct and push transfers of the share routes' files
   * (agent/transfer/); 0: an ephemeral one. Only used when a share route is there.
   */
  transferPort: z.number().int().min(0).max(65535).default(0),
  /** The port receivers reach the transfer port on, when a router forwards another one to it. */
  transferPublicPort: z.number().int().min(1).max(65535).optional(),
  /** No direct or push transfers: shares go through the edge only. */
  noTransfers: z.boolean().default(false),
  /** SQLite file of the listed shares' SHA-256 cache (agent/index/hash-cache.ts); null: memory only. */
  indexCacheFile: z.string().nullable().default(null),
  /** Full rescans of listed shares (besides watching), in ms. */
  indexRescanMs: z.number().int().positive().optional(),
  /**
   * The member's Ed25519 key (cli/signing-key.ts loads it): signs the offers of shares with
   * prices. Without it such shares still answer 402 and list their prices, but decline sales.
   */
  /**
   * The request inspector of the http routes (agent/inspector/): its port on 127.0.0.1 (0: any
   * free one) and whether a taken port moves on to the next; null (the default here; the CLI's
   * default is on, port 4040): off, and the routes install nothing.
   */
  inspect: z.object({ port: z.number().int().min(0).max(65535), nextFreePort: z.boolean().default(false) }).strict().nullable().default(null),
  /** `--metrics-listen host:port`: the agent's own Prometheus `/metrics` there (agent/metrics/); unset: none. */
  metricsListen: z.string().optional(),
  signingKey: z.custom<SigningKeyPair>((value) => typeof value === 'object' && value !== null && 'privateKey' in value && 'keyId' in value, 'signingKey must be a key pair').nullable().default(null),
}).strict();
export type AgentOptions = z.input<typeof AgentOptions>;

/**
 * A running agent. Events: `online`, `offline`, `routeClosed`, `direct`, `fatal` (see
 * TunnelConnector), and `localService` (line): a route's local service refused visitors or
 * answers again, rate-limited (see LocalPortNotice), for the CLI to print; `indexRefused`
 * (share target, UdnsError): a listed share left the members' index (edge limit, search off);
 * `indexListed` (share target, files, files still being hashed): the edge took a listing;
 * `transferChecked` (TransferChecked): the edge's probe of the transfer port changed its outcome.
 */
export interface Agent extends EventEmitter {
  /** Routes as the edge published them on the first connection. */
  readonly routes: PublishedRoute[];
  /** The routes started with, in the order of `options.routes`: what {@link removeRoute} takes. */
  readonly startedRoutes: readonly ManagedRoute[];
  /**
   * Adds a route to the running agent without touching the others' connections (`udns up`
   * reloading its file). Resolves with the route and where the edge published it (null while
   * offline: the next tunnel publishes it); rejects with the edge's refusal. `port`: the public
   * port a tcp route asks for first (the one of the route it replaces, so visitors keep it).
   */
  addRoute(spec: RouteSpec, options?: { port?: number }): Promise<{ route: ManagedRoute; published: PublishedRoute | null }>;
  /** Withdraws a route; the others' visitors carry on. */
  removeRoute(route: ManagedRoute): void;
  /**
   * New prices for a running share route (a `udns up` edit). False when the route cannot take
   * them in place (not a share, or started without prices): replace the route instead.
   * @throws UdnsError `config_invalid` for bad rules
   */
  setPrices(route: ManagedRoute, prices: readonly PriceRule[]): boolean;
  /** Direct and push transfers of the share routes; null without share routes or with noTransfers. */
  readonly transfers: TransferAgent | null;
  /**
   * The request inspector when `inspect` is set (its `url` is null until an http route starts
   * it; the agent emits `inspecting` (url) when a route added later starts it); null when off.
   */
  readonly inspector: Inspector | null;
  /** The `metricsListen` listener (its port: 0 asks for any free one); null without it. */
  readonly metricsListener: AgentMetricsListener | null;
  stop(): void;
}

/**
 * The agent's public entry point: validates the options, connects, publishes every route and
 * resolves once they are live. Rejects with a UdnsError (bad options, server unreachable, token
 * rejected, name taken…) without retrying; once live, it reconnects by itself forever.
 */
export async function startAgent(input: AgentOptions, logger?: AgentLogger): Promise<Agent> {
  const parsed = AgentOptions.safeParse(input);
  if (!parsed.success) {
    throw new UdnsError('config_invalid', parsed.error.issues.map((issue) => issue.message).join('; '));
  }
  const options = parsed.data;
  const log = logger ?? createAgentLogger(options.logLevel);
  // First, so that a taken port refuses the start before anything else opens.
  const metrics = options.metricsListen === undefined ? null : new AgentMetrics();
  const metricsListener = metrics === null ? null : await startAgentMetricsListener(options.metricsListen!, metrics, log.child({ component: 'metrics' }));
  // Visitors arrive once the connector is up; the notices speak through it.
  let connector: TunnelConnector | null = null;
  const inspector = options.inspect === null ? null : new Inspector(options.inspect);
  const noticeFor = (what: string): LocalPortNotice => new LocalPortNotice(what, (line) => connector?.emit('localService', line));
  const build = (input: RouteSpec): ManagedRoute => {
    const spec = RouteSpec.parse(input);
    if (spec.kind === 'http') {
      const name = spec.name === undefined ? undefined : validateName(spec.name);
      const handler = new HttpRoute(spec.localHost, spec.localPort, log.child({ route: name ?? 'http' }), noticeFor('app'), inspector);
      if (spec.private !== undefined) {
        if (spec.directPort !== undefined) throw new UdnsError('config_invalid', 'a private route has no direct mode: drop --direct-port (or --private)');
        if (spec.access !== undefined) throw new UdnsError('config_invalid', PRIVATE_NOT_PUBLIC_RULES);
        return { kind: 'http', name, target: handler.target, handler: new PrivateHttpRoute(handler), private: spec.private };
      }
      const guard = RouteGuard.of(spec.access, 'http');
      handler.guard = guard;
      const direct = spec.directPort === undefined ? undefined : new DirectListener(spec.directPort, handler, log.child({ route: name ?? 'http', direct: spec.directPort }));
      return { kind: 'http', name, target: handler.target, handler, direct, ...(guard?.wire === undefined ? {} : { access: guard.wire }) };
    }
    if (spec.kind === 'share') {
      const name = spec.name === undefined ? undefined : validateName(spec.name);
      const guard = RouteGuard.of(spec.access, 'http');
      const handler = new ShareRoute(spec, log.child({ route: name ?? 'share' }), Date.now(), options.signingKey, guard);
      if (spec.list) listShare(handler, name, spec.password !== undefined || guard !== null);
      return { kind: 'http', name, target: handler.target, handler, ...(guard?.wire === undefined ? {} : { access: guard.wire }) };
    }
    const handler = new TcpRoute(spec.localHost, spec.localPort, log.child({ route: `tcp:${spec.localPort}` }), noticeFor('service'));
    if (spec.private !== undefined && spec.access !== undefined) throw new UdnsError('config_invalid', PRIVATE_NOT_PUBLIC_RULES);
    if (spec.private !== undefined) return { kind: 'tcp', name: spec.name === undefined ? undefined : validateName(spec.name), target: handler.target, handler, private: spec.private };
    if (spec.name !== undefined) throw new UdnsError('config_invalid', 'a public tcp route has no name (its address is a port): drop the name, or make it --private');
    const guard = RouteGuard.of(spec.access, 'tcp');
    handler.guard = guard;
    return { kind: 'tcp', target: handler.target, handler, ...(guard?.wire === undefined ? {} : { access: guard.wire }) };
  };
  // Opened with the first listed share, kept for the agent's life (one SQLite handle for all).
  let hashCache: HashCache | null = null;
  const listShare = (handler: ShareRoute, name: string | undefined, locked: boolean): void => {
    if (hashCache === null) {
      hashCache = new HashCache(options.indexCacheFile);
      if (hashCache.problem !== null) log.warn({ reason: hashCache.problem }, 'the file-hash cache cannot be opened: listed shares are hashed again after each restart');
    }
    const listed = new ListedShare({
      policy: handler.policy, locked, expiresAtMs: handler.expiresAtMs, cache: hashCache, prices: handler.exchange?.priceList ?? null,
      logger: log.child({ route: name ?? 'share', component: 'index' }),
      ...(options.indexRescanMs === undefined ? {} : { rescanIntervalMs: options.indexRescanMs }),
    });
    listed.once('refused', (error: UdnsError) => connector?.emit('indexRefused', handler.target, error));
    listed.on('accepted', (files: number, hashing: number) => connector?.emit('indexListed', handler.target, files, hashing));
    handler.listed = listed;
  };
  const routes: ManagedRoute[] = options.routes.map(build);
  const startedRoutes = [...routes];
  if (inspector !== null && options.routes.some((route) => route.kind === 'http')) await inspector.start();
  const listening: DirectListener[] = [];
  try {
    for (const route of routes) {
      if (!route.direct) continue;
      await route.direct.listen();
      listening.push(route.direct);
    }
  } catch (error) {
    for (const listener of listening) listener.close();
    throw error;
  }
  connector = new TunnelConnector(new URL(options.serverUrl), options.token, options.transport, routes, options.agentVersion, log, { ca: options.ca, insecure: options.insecure }, options.mux);
  /** The transfer port, opened with the first share route (at start, or one `udns up` adds later). */
  const openTransfers = async (): Promise<void> => {
    if (options.noTransfers || connector!.transfers !== null) return;
    const transfers = new TransferAgent(options.transferPort, log.child({ component: 'transfers' }), options.transferPublicPort);
    try {
      await transfers.listen();
    } catch (error) {
      transfers.close();
      throw error;
    }
    connector!.useTransfers(transfers);
  };
  if (options.routes.some((route) => route.kind === 'share')) {
    try {
      await openTransfers();
    } catch (error) {
      for (const listener of listening) listener.close();
      throw error;
    }
  }
  connector.metrics = metrics;
  metrics?.watch(connector);
  const published = await connector.start().catch((error: unknown) => { metricsListener?.close(); throw error; });
  // Bound before Object.assign below gives the agent its own addRoute/removeRoute.
  const connectorAdd = connector.addRoute.bind(connector);
  const connectorRemove = connector.removeRoute.bind(connector);
  const addRoute = async (spec: RouteSpec, options: { port?: number } = {}): Promise<{ route: ManagedRoute; published: PublishedRoute | null }> => {
    // Before the route is built: a transfer port that cannot be opened refuses the route whole.
    if (spec.kind === 'share') await openTransfers();
    const route = build(spec);
    if (route.kind === 'tcp' && options.port !== undefined) route.port = options.port;
    if (spec.kind === 'http' && inspector !== null && inspector.url === null) connector!.emit('inspecting', await inspector.start());
    if (route.direct) await route.direct.listen();
    return { route, published: await connectorAdd(route) };
  };
  const setPrices = (route: ManagedRoute, prices: readonly PriceRule[]): boolean => {
    if (!(route.handler instanceof ShareRoute) || route.handler.exchange === null) return false;
    route.handler.setPrices(prices);
    return true;
  };
  const connectorStop = connector.stop.bind(connector);
  const stop = (): void => {
    connectorStop();
    inspector?.close();
    metricsListener?.close();
    metrics?.stopped();
  };
  return Object.assign(connector, { routes: published, startedRoutes, inspector, metricsListener, stop, addRoute, removeRoute: connectorRemove, setPrices }) as unknown as Agent;
}
