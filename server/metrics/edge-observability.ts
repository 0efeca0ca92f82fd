import fs from 'node:fs';
import type http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { AccessLog, type AccessLogStderr } from '../access-log/access-log.js';
import type { TokenVerdict } from '../accounts/token-gate.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import type { EdgeConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { VisitorObserver } from '../observe/visitor-observer.js';
import { classifyHost } from '../proxy/request-head.js';
import { clientAddress } from '../proxy/trusted-proxies.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { bearerToken } from '../tunnel/tunnel-endpoint.js';
import { EdgeMetrics, type EdgeMetricsSources } from './edge-metrics.js';
import { startMetricsListener, type MetricsListener } from './metrics-endpoint.js';

/** The edge's metrics, access log and visitor observation, wired in one place (edge.ts calls in). */
export interface EdgeObservability {
  readonly metrics: EdgeMetrics;
  /** Port of `--metrics-listen`, when set. */
  readonly metricsPort: number | undefined;
  /** The DNS server's `onQuery`. */
  readonly dnsQuery: (transport: 'udp' | 'tcp', request: Buffer, answer: Buffer | null) => void;
  /** A connection accepted on a visitor listener (counted until it closes). */
  connection(socket: net.Socket, listener: 'http' | 'https'): void;
  /**
   * `GET /metrics` on the apex for the operator's token (401 without, 403 for a member's);
   * false when the request is not one (the edge's app answers it).
   */
  serveApex(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  close(): Promise<void>;
}

/**
 * Opens the access log (`--access-log`; reopened on SIGHUP), starts `--metrics-listen`, and sets
 * the registry's visitor observer.
 * @throws UdnsError `config_invalid` when the access log cannot be opened, `port_unavailable` when the metrics listener cannot bind
 */
export async function openObservability(deps: {
  config: () => EdgeConfig;
  registry: TunnelRegistry;
  tokens: () => { check(token: string, address: string): Promise<TokenVerdict>; stats(): { rejected: number; throttled: number } };
  logger: Logger;
  /** Per-name byte totals from the TrafficMeter; absent: the metrics count their own. */
  traffic?: EdgeMetricsSources['traffic'];
  /** Refusals over the operator's limits. */
  quotaRefusals?: EdgeMetricsSources['quotaRefusals'];
}): Promise<EdgeObservability> {
  const { registry, logger } = deps;
  const config = deps.config();
  const metrics = new EdgeMetrics({
    agents: () => registry.tunnelCount,
    routes: () => registry.routeCount,
    tokenChecks: () => deps.tokens().stats(),
    certificate: () => servedCertificate(deps.config()),
    ...(deps.traffic !== undefined ? { traffic: deps.traffic } : {}),
    ...(deps.quotaRefusals !== undefined ? { quotaRefusals: deps.quotaRefusals } : {}),
  }, { maxNames: config.metricsMaxNames });
  const accessLog = config.accessLog === undefined ? null : new AccessLog({
    file: config.accessLog,
    maxBytes: config.accessLogMaxBytes,
    keep: config.accessLogKeep,
    onLine: (written) => metrics.accessLogLine(written),
    onError: (error) => logger.error({ err: error }, 'access log write failed'),
    ...(config.accessLog === '-' ? { stderr: stderrLogStream(logger) } : {}),
  });
  let listener: MetricsListener | undefined;
  try {
    if (config.metricsListen !== undefined) listener = await startMetricsListener(config.metricsListen, metrics, logger.child({ component: 'metrics' }));
  } catch (error) {
    await accessLog?.close();
    throw error;
  }
  // logrotate moves the file and sends SIGHUP: the next lines go to a new one.
  const reopen = (): void => accessLog?.reopen();
  if (accessLog !== null && config.accessLog !== '-') process.on('SIGHUP', reopen);
  // Per-request observation only feeds the access log and the latency histogram: with neither
  // asked for (--access-log, --metrics-requests), requests are not looked at (its cost per
  // request: docs/decisions.md).
  registry.visitorObserver = new VisitorObserver(metrics, accessLog, accessLog !== null || config.metricsRequests);

  const dnsCounts = metrics.dns;
  return {
    metrics,
    metricsPort: listener?.port,
    dnsQuery: (transport, request, answer) => dnsCounts.count(transport, request, answer),
    connection(socket, kind) {
      metrics.connectionOpened(kind);
      socket.once('close', () => metrics.connectionClosed(kind));
    },
    serveApex(req, res) {
      if ((req.url ?? '').split('?')[0] !== '/metrics' || req.method !== 'GET') return false;
      const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
      if (classifyHost(host === '' ? null : host, deps.config().domain).kind === 'name') return false;
      void answerApex(req, res, metrics, deps.tokens(), deps.config().trustedProxy, logger);
      return true;
    },
    async close() {
      process.off('SIGHUP', reopen);
      registry.visitorObserver = null;
      await listener?.close();
      await accessLog?.close();
    },
  };
}

async function answerApex(
  req: http.IncomingMessage, res: http.ServerResponse, metrics: EdgeMetrics,
  tokens: { check(token: string, address: string): Promise<TokenVerdict> }, trustedProxies: readonly string[], logger: Logger,
): Promise<void> {
  const text = (status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers }).end(body);
  };
  try {
    const token = bearerToken(req.headers.authorization);
    const verdict = token === null ? null : await tokens.check(token, clientAddress(req, trustedProxies));
    if (verdict?.kind === 'throttled') {
      text(429, `too many rejected tokens from your network: try again in ${verdict.retryAfterSeconds} s\n`, { 'Retry-After': String(verdict.retryAfterSeconds) });
      return;
    }
    if (verdict?.kind !== 'accepted') {
      text(401, 'the metrics need the operator\'s token: Authorization: Bearer <admin token>\n', { 'WWW-Authenticate': 'Bearer' });
      return;
    }
    if (verdict.account.name !== ADMIN_ACCOUNT_NAME) {
      text(403, `only the operator's account (${ADMIN_ACCOUNT_NAME}) may read the metrics\n`);
      return;
    }
    const body = await metrics.text();
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' }).end(body);
  } catch (error) {
    logger.error({ err: error }, 'metrics could not be served');
    if (!res.headersSent) text(500, 'metrics could not be collected\n');
    else res.destroy();
  }
}

/**
 * The logger's own destination when it writes to stderr (the CLI's sonic-boom on fd 2), so that
 * `--access-log -` lines go through the same writer as the log lines; otherwise process.stderr.
 */
export function stderrLogStream(logger: Logger): AccessLogStderr | undefined {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as (AccessLogStderr & { fd?: unknown }) | undefined;
  return stream !== undefined && stream.fd === 2 && typeof stream.write === 'function' ? stream : undefined;
}

/** The certificate the HTTPS listener serves, read from where the edge reads it (files change on renewal and reload). */
async function servedCertificate(config: EdgeConfig): Promise<{ pem: Buffer; source: 'acme' | 'file' } | null> {
  if (config.httpsPort === undefined) return null;
  const file = config.acme ? path.join(config.dataDir, 'acme', 'certificate.pem') : config.tlsCert;
  if (file === undefined) return null;
  try {
    return { pem: await fs.promises.readFile(file), source: config.acme ? 'acme' : 'file' };
  } catch {
    // Not issued yet (ACME pending: a temporary self-signed certificate serves), or unreadable.
    return null;
  }
}
