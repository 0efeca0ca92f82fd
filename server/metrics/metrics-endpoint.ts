import http from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import { UdnsError } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import { parseListenAddress } from './listen-address.js';

/** What serves the exposition text. */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

/** A running `--metrics-listen` listener. */
export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` on a listener of its own (`--metrics-listen`), answered to anyone who reaches it,
 * as Prometheus exporters are: the operator binds it to loopback or a monitoring network.
 * @throws UdnsError `config_invalid` for a malformed address, `port_unavailable` when it cannot bind
 */
export async function startMetricsListener(address: string, metrics: MetricsSource, logger: Logger): Promise<MetricsListener> {
  const parsed = parseListenAddress(address);
  if (parsed === null) throw new UdnsError('config_invalid', `--metrics-listen: ${address} must be host:port such as 127.0.0.1:9464 or [::1]:9464`);
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
  // Accept failures (EMFILE when the edge runs out of descriptors) come as 'error': logged, not fatal.
  server.on('error', (error) => logger.warn({ err: error }, 'metrics listener failed'));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
