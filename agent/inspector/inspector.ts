import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UdnsError } from '../../protocol/index.js';
import { ExchangeRing, type ExchangeRingLimits } from './exchange-ring.js';
import { HttpTap, type TapContext } from './http-tap.js';
import { createInspectorServer } from './inspector-server.js';

/** Where the inspector listens unless told otherwise (ngrok's habit: people know it). */
export const DEFAULT_INSPECTOR_PORT = 4040;
/** With the default port taken, this many next ports are tried, then any free one. */
const PORTS_TRIED = 50;

export interface InspectorOptions {
  /** 0: any free port. */
  port: number;
  /** True: a taken port moves on to the next ones, then to any free one (the default port); false: a taken port is an error. */
  nextFreePort: boolean;
  limits?: Partial<ExchangeRingLimits>;
  replayTimeoutMs?: number;
}

/**
 * The agent's request inspector: a ring of recent exchanges that the http routes' taps fill,
 * shown by a page and a JSON API on 127.0.0.1 (inspector-server.ts). Made only when it is on:
 * routes without one install no tap.
 */
export class Inspector {
  readonly ring: ExchangeRing;
  private server: http.Server | null = null;
  private port = 0;

  constructor(private readonly options: InspectorOptions) {
    this.ring = new ExchangeRing(options.limits);
  }

  /** The page's URL once listening. */
  get url(): string | null {
    return this.server === null ? null : `http://127.0.0.1:${this.port}`;
  }

  /**
   * Listens on 127.0.0.1; resolves with the page's URL.
   * @throws UdnsError `port_unavailable` when no port could be had
   */
  async start(): Promise<string> {
    if (this.server !== null) return this.url!;
    const tries = this.options.nextFreePort && this.options.port !== 0 ? PORTS_TRIED + 1 : 1;
    for (let i = 0; i < tries; i++) {
      // The last try of a moving port is any free one: many agents on one PC all get an inspector.
      const port = this.options.port === 0 || i === PORTS_TRIED || this.options.port + i > 65535 ? 0 : this.options.port + i;
      const server = createInspectorServer(this.ring, () => this.port, { replayTimeoutMs: this.options.replayTimeoutMs });
      const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        server.once('error', resolve);
        server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(null));
      });
      if (error === null) {
        server.on('error', () => { /* after listening: per-connection errors are handled by http */ });
        this.server = server;
        this.port = (server.address() as AddressInfo).port;
        return this.url!;
      }
      if (error.code !== 'EADDRINUSE') throw new UdnsError('port_unavailable', `the inspector cannot listen on 127.0.0.1:${port} (${error.code ?? error.message}): pick another with --inspect-port or turn it off with --inspect=false`);
    }
    throw new UdnsError('port_unavailable', `the inspector cannot listen: port ${this.options.port} is taken on 127.0.0.1; pick another with --inspect-port or turn it off with --inspect=false`);
  }

  /** A tap for one connection of a route. */
  tap(context: TapContext): HttpTap {
    return new HttpTap(this.ring, context);
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
    this.server = null;
  }
}
