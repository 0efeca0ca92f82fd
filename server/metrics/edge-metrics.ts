import crypto from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DnsQueryCounts } from './dns-query-counts.js';
import { DEFAULT_METRICS_MAX_NAMES, LabelBudget } from './label-budget.js';
import { TrafficCounts, type TrafficEntry } from './traffic-counts.js';

/** Why a visitor, member or query was turned away (the `reason` label; a fixed set). */
export type RefusalReason = 'visitor_limit' | 'bad_request_head' | 'head_too_large';
/** What was rate limited (the `reason` label of `udns_rate_limited_total`). */
export type RateLimitReason = 'token_failures' | 'bandwidth';

/** What the metrics read at scrape time from the rest of the edge. */
export interface EdgeMetricsSources {
  /** Live agent connections (tunnels). */
  agents(): number;
  /** Live routes (http and tcp) on them. */
  routes(): number;
  /** The token gate's counters. */
  tokenChecks(): { rejected: number; throttled: number };
  /** The certificate served on HTTPS now (PEM), with where it came from; null without HTTPS. */
  certificate(): Promise<{ pem: Buffer; source: 'acme' | 'file' } | null>;
  /** Per-name byte totals since start (the TrafficMeter, server/traffic/); default: the metrics' own counts. */
  traffic?(): readonly Pick<TrafficEntry, 'account' | 'name' | 'bytesIn' | 'bytesOut'>[];
  /** Refusals over the operator's limits (server/quotas/): visitor connections and name claims. */
  quotaRefusals?(): { visitors: number; names: number };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The edge's Prometheus metrics, in a registry of its own (several edges may run in one process,
 * as in tests). Hot paths count into plain fields and arrays; prom-client's metrics read them at
 * scrape time (`collect`), so counting costs an increment, not a label look-up.
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly dns = new DnsQueryCounts();
  /** Bytes per (account, name) counted here, when the edge gives no TrafficMeter (sources.traffic). */
  readonly traffic = new TrafficCounts();
  private readonly accounts: LabelBudget;
  private readonly names: LabelBudget;
  private readonly connections = { open: new Map<string, number>(), total: new Map<string, number>() };
  private readonly streams = { open: new Map<string, number>(), total: new Map<string, number>() };
  private readonly refusals = new Map<string, number>();
  private readonly rateLimits = new Map<string, number>();
  private readonly databaseErrors = new Map<string, number>();
  private readonly accessLog = { lines: 0, dropped: 0 };
  private readonly latency: Histogram<'code'>;
  private certificateCache: { pem: Buffer; notAfter: number } | null = null;

  constructor(readonly sources: EdgeMetricsSources, options: { maxNames?: number; defaultMetrics?: boolean } = {}) {
    const max = options.maxNames ?? DEFAULT_METRICS_MAX_NAMES;
    this.accounts = new LabelBudget(max);
    this.names = new LabelBudget(max);
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const self = this;

    new Gauge({ name: 'udns_agents_online', help: 'Agent connections (tunnels) live on this edge.', registers, collect() { this.set(sources.agents()); } });
    new Gauge({ name: 'udns_tunnels_online', help: 'Routes (http and tcp) served by live agents.', registers, collect() { this.set(sources.routes()); } });
    new Gauge({
      name: 'udns_connections_open', help: 'Connections open on the edge\'s visitor listeners, by listener.', labelNames: ['listener'], registers,
      collect() { setAll(this, 'listener', self.connections.open); },
    });
    new Counter({
      name: 'udns_connections_total', help: 'Connections accepted on the edge\'s visitor listeners, by listener.', labelNames: ['listener'], registers,
      collect() { setAll(this, 'listener', self.connections.total); },
    });
    new Gauge({
      name: 'udns_visitor_streams_open', help: 'Visitor connections bridged into a tunnel stream right now, by kind (http, upgrade, tcp).', labelNames: ['kind'], registers,
      collect() { setAll(this, 'kind', self.streams.open); },
    });
    new Counter({
      name: 'udns_visitor_streams_total', help: 'Visitor connections bridged into a tunnel stream, by kind.', labelNames: ['kind'], registers,
      collect() { setAll(this, 'kind', self.streams.total); },
    });
    new Counter({
      name: 'udns_account_bytes_total', help: `Visitor bytes relayed per account (direction in = from visitors); past ${max} accounts the rest count as "other".`,
      labelNames: ['account', 'direction'], registers,
      collect() { self.collectTraffic(this, 'account'); },
    });
    new Counter({
      name: 'udns_name_bytes_total', help: `Visitor bytes relayed per name (direction in = from visitors); past ${max} names the rest count as "other".`,
      labelNames: ['name', 'direction'], registers,
      collect() { self.collectTraffic(this, 'name'); },
    });
    this.latency = new Histogram({
      name: 'udns_http_request_duration_seconds', help: 'Visitor HTTP requests through tunnels, first request byte to last response byte, by status class (observed requests only).',
      labelNames: ['code'], buckets: LATENCY_BUCKETS, registers,
    });
    new Counter({
      name: 'udns_dns_queries_total', help: 'DNS queries answered (or dropped: rcode "dropped"), by transport, query type and rcode.',
      labelNames: ['transport', 'type', 'rcode'], registers,
      collect() {
        this.reset();
        for (const { transport, type, rcode, count } of self.dns.entries()) this.inc({ transport, type, rcode }, count);
      },
    });
    new Counter({
      name: 'udns_refused_total', help: 'Visitors and members turned away, by reason.', labelNames: ['reason'], registers,
      collect() {
        setAll(this, 'reason', self.refusals);
        const rejected = sources.tokenChecks().rejected;
        if (rejected > 0) this.inc({ reason: 'token_rejected' }, rejected);
        const quotas = sources.quotaRefusals?.();
        if (quotas !== undefined && quotas.visitors > 0) this.inc({ reason: 'visitor_quota' }, quotas.visitors);
        if (quotas !== undefined && quotas.names > 0) this.inc({ reason: 'name_quota' }, quotas.names);
      },
    });
    new Counter({
      name: 'udns_rate_limited_total', help: 'Requests, queries and bytes held back by a rate limit, by reason.', labelNames: ['reason'], registers,
      collect() {
        setAll(this, 'reason', self.rateLimits);
        const throttled = sources.tokenChecks().throttled;
        if (throttled > 0) this.inc({ reason: 'token_failures' }, throttled);
        // DNS queries the response rate limiter dropped are udns_dns_queries_total{rcode="dropped"}
        // (with the few undecodable ones): the hook does not tell them apart.
      },
    });
    new Gauge({
      name: 'udns_certificate_expiry_seconds', help: 'Seconds until the HTTPS certificate served now expires (negative once expired), by source.',
      labelNames: ['source'], registers,
      async collect() {
        this.reset();
        const expiry = await self.certificateExpiry();
        if (expiry !== null) this.set({ source: expiry.source }, expiry.seconds);
      },
    });
    new Counter({
      name: 'udns_database_errors_total', help: 'Database operations that failed, by operation.', labelNames: ['operation'], registers,
      collect() { setAll(this, 'operation', self.databaseErrors); },
    });
    new Counter({ name: 'udns_access_log_lines_total', help: 'Access log lines written.', registers, collect() { this.reset(); this.inc(self.accessLog.lines); } });
    new Counter({
      name: 'udns_access_log_dropped_total', help: 'Access log lines dropped because the log\'s queue was full (a disk slower than the traffic).', registers,
      collect() { this.reset(); this.inc(self.accessLog.dropped); },
    });
  }

  connectionOpened(listener: string): void {
    bump(this.connections.open, listener, 1);
    bump(this.connections.total, listener, 1);
  }

  connectionClosed(listener: string): void {
    bump(this.connections.open, listener, -1);
  }

  streamOpened(kind: string): void {
    bump(this.streams.open, kind, 1);
    bump(this.streams.total, kind, 1);
  }

  streamClosed(kind: string): void {
    bump(this.streams.open, kind, -1);
  }

  refused(reason: RefusalReason): void {
    bump(this.refusals, reason, 1);
  }

  rateLimited(reason: RateLimitReason, count = 1): void {
    bump(this.rateLimits, reason, count);
  }

  databaseError(operation: string): void {
    bump(this.databaseErrors, operation, 1);
  }

  httpRequest(status: number | null, durationMs: number): void {
    this.latency.observe({ code: status === null ? 'none' : `${Math.floor(status / 100)}xx` }, durationMs / 1000);
  }

  accessLogLine(written: boolean): void {
    if (written) this.accessLog.lines++;
    else this.accessLog.dropped++;
  }

  /** The exposition text (`/metrics`). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private collectTraffic(counter: Counter<string>, by: 'account' | 'name'): void {
    counter.reset();
    const budget = by === 'account' ? this.accounts : this.names;
    const sums = new Map<string, { bytesIn: number; bytesOut: number }>();
    for (const entry of this.sources.traffic?.() ?? this.traffic.snapshot()) {
      const label = budget.labelFor(by === 'account' ? entry.account : entry.name);
      const sum = sums.get(label) ?? { bytesIn: 0, bytesOut: 0 };
      sum.bytesIn += entry.bytesIn;
      sum.bytesOut += entry.bytesOut;
      sums.set(label, sum);
    }
    for (const [label, sum] of sums) {
      counter.inc({ [by]: label, direction: 'in' }, sum.bytesIn);
      counter.inc({ [by]: label, direction: 'out' }, sum.bytesOut);
    }
  }

  private async certificateExpiry(): Promise<{ source: string; seconds: number } | null> {
    const served = await this.sources.certificate();
    if (served === null) return null;
    if (this.certificateCache === null || !this.certificateCache.pem.equals(served.pem)) {
      try {
        this.certificateCache = { pem: served.pem, notAfter: Date.parse(new crypto.X509Certificate(served.pem).validTo) };
      } catch {
        return null;
      }
    }
    return { source: served.source, seconds: Math.round((this.certificateCache.notAfter - Date.now()) / 1000) };
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Sets a collected metric to a map's values (a counter: reset, then increased by each). */
function setAll(metric: Gauge<string> | Counter<string>, label: string, values: Map<string, number>): void {
  metric.reset();
  for (const [key, value] of values) {
    if (metric instanceof Gauge) metric.set({ [label]: key }, value);
    else if (value > 0) metric.inc({ [label]: key }, value);
  }
}
