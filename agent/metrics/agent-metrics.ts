import type net from 'node:net';
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ManagedRoute } from '../tunnel-connector.js';
import { ShareRoute } from '../share/share-route.js';

/** A route's kind as the metrics label it: shares apart from plain http routes. */
export type RouteKindLabel = 'http' | 'tcp' | 'share';

/**
 * One route's counts: plain fields the routes increment on their hot path (no label look-up,
 * no allocation); the registry reads them at scrape time.
 */
export class RouteMeter {
  streamsOpen = 0;
  streamsTotal = 0;
  /** Bytes from visitors to the local service (after the request-head rewrite). */
  bytesIn = 0;
  /** Bytes from the local service to visitors. */
  bytesOut = 0;
  /** Connections to the local service that failed before they were established (refused, unreachable). */
  originConnectErrors = 0;
  /** Connections the local service broke (reset) once established. */
  originResets = 0;

  constructor(readonly kind: RouteKindLabel, readonly route: string) {}

  /** A connection to the local service closed: its byte counts (kept by node:net) are added. */
  socketClosed(socket: net.Socket): void {
    this.bytesIn += socket.bytesWritten;
    this.bytesOut += socket.bytesRead;
  }

  /** The local service failed a connection: before it was up (`connected` false) or mid-way. */
  originError(connected: boolean): void {
    if (connected) this.originResets++;
    else this.originConnectErrors++;
  }
}

/** The most routes labelled one by one (an agent has a few; `udns up` files could list many). */
export const AGENT_METRICS_MAX_ROUTES = 100;

/**
 * The agent's own Prometheus metrics (`--metrics-listen`), in a registry of its own (several
 * agents may run in one process, as in tests). Metric names start with `udns_agent_`.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private connected = 0;
  private onlineCount = 0;
  private readonly meters = new WeakMap<ManagedRoute, RouteMeter>();
  private readonly all: RouteMeter[] = [];
  private readonly byLabel = new Map<string, RouteMeter>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Gauge({ name: 'udns_agent_tunnel_connected', help: '1 while the agent\'s tunnel to the edge is up, else 0.', registers, collect() { this.set(self.connected); } });
    new Counter({
      name: 'udns_agent_tunnel_reconnects_total', help: 'Tunnels established again after one was lost.', registers,
      collect() { this.reset(); this.inc(Math.max(0, self.onlineCount - 1)); },
    });
    const perRoute = (name: string, help: string, read: (meter: RouteMeter) => number, kind: 'gauge' | 'counter'): void => {
      const Type = kind === 'gauge' ? Gauge : Counter;
      new Type({
        name, help, labelNames: ['route', 'kind'], registers,
        collect() {
          this.reset();
          for (const meter of self.all) (this as Gauge<'route' | 'kind'>).inc({ route: meter.route, kind: meter.kind }, read(meter));
        },
      });
    };
    perRoute('udns_agent_visitor_streams_open', 'Visitor streams being served now, by route and kind (http, tcp, share).', (m) => m.streamsOpen, 'gauge');
    perRoute('udns_agent_visitor_streams_total', 'Visitor streams served, by route and kind.', (m) => m.streamsTotal, 'counter');
    new Counter({
      name: 'udns_agent_route_bytes_total', help: 'Bytes between visitors and the local service, by route (direction in = from visitors); http and tcp routes.',
      labelNames: ['route', 'kind', 'direction'], registers,
      collect() {
        this.reset();
        for (const meter of self.all) {
          this.inc({ route: meter.route, kind: meter.kind, direction: 'in' }, meter.bytesIn);
          this.inc({ route: meter.route, kind: meter.kind, direction: 'out' }, meter.bytesOut);
        }
      },
    });
    new Counter({
      name: 'udns_agent_origin_errors_total', help: 'Connections the local service refused or could not take (phase connect) or broke once up (phase established), by route.',
      labelNames: ['route', 'kind', 'phase'], registers,
      collect() {
        this.reset();
        for (const meter of self.all) {
          this.inc({ route: meter.route, kind: meter.kind, phase: 'connect' }, meter.originConnectErrors);
          this.inc({ route: meter.route, kind: meter.kind, phase: 'established' }, meter.originResets);
        }
      },
    });
  }

  /** Follows the connector's `online` and `offline` events for the tunnel gauge and reconnects. */
  watch(connector: EventEmitter): void {
    connector.on('online', () => { this.connected = 1; this.onlineCount++; });
    connector.on('offline', () => { this.connected = 0; });
  }

  /** The agent stopped: its tunnel is down. */
  stopped(): void {
    this.connected = 0;
  }

  /**
   * A visitor stream reached `route` (called by the connector before its handler takes it):
   * counted, and the handler gets its meter for bytes and origin errors.
   */
  visitorStream(route: ManagedRoute, stream: EventEmitter): void {
    const meter = this.meterOf(route);
    meter.streamsOpen++;
    meter.streamsTotal++;
    stream.once('close', () => { meter.streamsOpen--; });
  }

  /** The meter of a route, made on its first visitor (its name is the edge's by then). */
  meterOf(route: ManagedRoute): RouteMeter {
    let meter = this.meters.get(route);
    if (meter !== undefined) return meter;
    const kind: RouteKindLabel = route.handler instanceof ShareRoute ? 'share' : route.kind;
    let label = route.name ?? route.target;
    // Routes are few; past the cap (a huge `udns up` file) the rest share one label.
    if (!this.byLabel.has(`${kind} ${label}`) && this.byLabel.size >= AGENT_METRICS_MAX_ROUTES) label = 'other';
    const key = `${kind} ${label}`;
    meter = this.byLabel.get(key);
    if (meter === undefined) {
      meter = new RouteMeter(kind, label);
      this.byLabel.set(key, meter);
      this.all.push(meter);
    }
    this.meters.set(route, meter);
    (route.handler as { meter?: RouteMeter | null }).meter = meter;
    return meter;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
