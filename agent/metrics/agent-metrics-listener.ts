import http from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import { UdnsError } from '../../protocol/index.js';
import { parseListenAddress } from '../../server/metrics/listen-address.js';
import type { AgentLogger } from '../agent-logger.js';
import type { AgentMetrics } from './agent-metrics.js';

/** What `--metrics-listen` says when its value is not an address. */
export const METRICS_LISTEN_FORMAT = 'must be host:port such as 127.0.0.1:9465 or [::1]:9465';

/** A running agent `--metrics-listen` listener. */
export interface AgentMetricsListener {
  readonly port: number;
  close(): void;
}

/**
 * `GET /metrics` of the agent on a listener of its own (404 for other paths, 405 for other
 * methods), answered to anyone who reaches it as Prometheus exporters are: bind it to loopback
 * or a monitoring network.
 * @throws UdnsError `config_invalid` for a malformed address, `port_unavailable` when it cannot bind
 */
export async function startAgentMetricsListener(address: string, metrics: AgentMetrics, logger: AgentLogger): Promise<AgentMetricsListener> {
  const parsed = parseListenAddress(address);
  if (parsed === null) throw new UdnsError('config_invalid', `--metrics-listen: ${address} ${METRICS_LISTEN_FORMAT}`);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('only GET /metrics\n');
      return;
    }
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (error: unknown) => {
        logger.error({ err: error }, 'metrics could not be collected');
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics could not be collected\n');
      },
    );
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  server.listen({ port: parsed.port, host: parsed.host });
  try {
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EADDRINUSE' ? 'another program uses it' : code === 'EADDRNOTAVAIL' ? `${parsed.host} is not an address of this machine` : code === 'EACCES' ? 'ports below 1024 need root' : code ?? String(error);
    throw new UdnsError('port_unavailable', `cannot listen for metrics on ${address}: ${reason}; choose another --metrics-listen host:port`, { cause: error });
  }
  server.on('error', (error) => logger.warn({ err: error }, 'metrics listener failed'));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
