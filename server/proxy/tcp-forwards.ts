import net from 'node:net';
import { randomInt } from 'node:crypto';
import { UdnsError, type IpRules } from '../../protocol/index.js';
import type { Logger } from '../logger.js';

/** A public TCP port bound for one tcp route. */
export interface TcpForward {
  readonly port: number;
  /** Stops listening; resolves once the port is free again. */
  close(): Promise<void>;
}

/** Hands out public TCP ports from the configured range and listens on them. */
export class TcpForwards {
  private readonly inUse = new Map<number, net.Server>();

  constructor(
    private readonly range: { low: number; high: number },
    private readonly bind: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Listens on `preferred` when it is free and in range (a reconnecting agent keeps its port),
   * otherwise on the first free port from a random point in the range. A visitor `ipRules`
   * refuses (`--allow-ip`, `--deny-ip`) is closed at once: nothing reaches the agent;
   * `onRefused` hears of it first (the access log).
   * @throws UdnsError `port_unavailable` when the whole range is taken
   */
  async open(preferred: number | undefined, onConnection: (socket: net.Socket) => void, ipRules?: IpRules, onRefused?: (socket: net.Socket) => void): Promise<TcpForward> {
    const size = this.range.high - this.range.low + 1;
    const start = randomInt(size);
    const candidates: number[] = [];
    if (preferred !== undefined && preferred >= this.range.low && preferred <= this.range.high) candidates.push(preferred);
    for (let i = 0; i < size; i++) candidates.push(this.range.low + ((start + i) % size));

    for (const port of candidates) {
      if (this.inUse.has(port)) continue;
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        // For the socket's whole life: a visitor's reset must never be an unhandled 'error'.
        socket.on('error', (error) => this.logger.debug({ err: error, port }, 'tcp visitor socket error'));
        if (ipRules !== undefined && !ipRules.allows(socket.remoteAddress ?? '')) {
          this.logger.info({ port, visitor: socket.remoteAddress }, 'tcp visitor refused by --allow-ip/--deny-ip');
          onRefused?.(socket);
          socket.resetAndDestroy();
          return;
        }
        onConnection(socket);
      });
      const listening = await listen(server, port, this.bind);
      if (!listening) continue;
      this.inUse.set(port, server);
      server.on('error', (error) => this.logger.warn({ err: error, port }, 'tcp forward listener failed'));
      return {
        port,
        close: () => new Promise<void>((resolve) => {
          if (this.inUse.get(port) !== server) {
            resolve();
            return;
          }
          this.inUse.delete(port);
          server.close(() => resolve());
        }),
      };
    }
    throw new UdnsError('port_unavailable', `no free TCP port left in ${this.range.low}-${this.range.high}`);
  }

  /** Stops every listener (edge shutdown). */
  closeAll(): void {
    for (const server of this.inUse.values()) server.close();
    this.inUse.clear();
  }
}

function listen(server: net.Server, port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (): void => resolve(false);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve(true);
    });
  });
}
