import type net from 'node:net';
import { networkOf } from '../../protocol/network-prefix.js';
import { DNS_SOURCE_NETWORK } from './response-rate-limit.js';

/**
 * What one DNS-over-TCP client may hold. dns2's TCP server (used until December 2026) bounded none of it: a client that pipelines
 * queries for a large answer and never reads made the server buffer ~125 bytes of answer per
 * byte of query (+358 MB from 1.7 MB of queries, still held after the idle timeout), one that
 * dribbles a byte every few seconds kept its connection forever, and nothing limited how many
 * connections anyone opened (each one a file descriptor the edge's HTTP side needs too).
 */
export interface TcpLimits {
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /** Of those, from one source network (an IPv4 /24 or IPv6 /56, as the UDP rate limiter counts). */
  maxConnectionsPerNetwork: number;
  /** A connection must complete a query this often (from its opening, then from its last query), or it is closed. */
  queryDeadlineMs: number;
  /** Answer bytes a client has not taken yet; past this it is not reading and the connection is dropped. */
  maxUnsentBytes: number;
}

/**
 * Defaults: 256 connections, 32 per network, a query every 10 s (the connection's idle timeout), 64 KiB
 * unsent (one largest message). At most ~200 KiB per connection (64 KiB of half-received query,
 * up to 128 KiB of answers), so ~50 MB for all of them.
 */
export const TCP_LIMIT_DEFAULTS: Readonly<TcpLimits> = Object.freeze({
  maxConnections: 256,
  maxConnectionsPerNetwork: 32,
  queryDeadlineMs: 10_000,
  maxUnsentBytes: 64 * 1024,
});

/** Why a connection was not admitted. */
export type TcpRefusal = 'server-full' | 'network-full';

/** Counts the DNS server's TCP connections, per source network, and times their queries. */
export class TcpGuard {
  private open = 0;
  private readonly perNetwork = new Map<string, number>();
  private readonly deadlines = new WeakMap<net.Socket, NodeJS.Timeout>();

  constructor(private readonly limits: Readonly<TcpLimits>) {}

  /** Connections currently counted. */
  get connections(): number {
    return this.open;
  }

  /**
   * Counts a new connection in (until it closes) and starts its query deadline, or says why it
   * is refused; the caller then closes it.
   */
  admit(socket: net.Socket): TcpRefusal | null {
    const network = networkOf(socket.remoteAddress ?? '', DNS_SOURCE_NETWORK);
    const fromNetwork = this.perNetwork.get(network) ?? 0;
    if (this.open >= this.limits.maxConnections) return 'server-full';
    if (fromNetwork >= this.limits.maxConnectionsPerNetwork) return 'network-full';
    this.open++;
    this.perNetwork.set(network, fromNetwork + 1);
    // The close is graceful: answers already queued still go out, then FIN. A client that does
    // not take them either is dropped by the idle timeout (see the server's 'timeout').
    const deadline = setTimeout(() => socket.destroySoon(), this.limits.queryDeadlineMs);
    this.deadlines.set(socket, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.open--;
      const left = (this.perNetwork.get(network) ?? 1) - 1;
      if (left === 0) this.perNetwork.delete(network);
      else this.perNetwork.set(network, left);
    });
    return null;
  }

  /** A complete query arrived on `socket`: its deadline starts again. */
  queried(socket: net.Socket): void {
    this.deadlines.get(socket)?.refresh();
  }

  /** True when `socket` has more unsent answer bytes than a reading client would leave. */
  notReading(socket: net.Socket): boolean {
    return socket.writableLength > this.limits.maxUnsentBytes;
  }
}
