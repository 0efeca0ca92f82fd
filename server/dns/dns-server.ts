import type { RemoteInfo } from 'node:dgram';
import net from 'node:net';
import dns2 from 'dns2';
import { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';
import { isLabel } from '../../protocol/names.js';
import type { Logger } from '../logger.js';
import {
  buildResponse,
  EDNS_UDP_PAYLOAD_SIZE,
  encodeWithin,
  MAX_TCP_MESSAGE_SIZE,
  servfailFor,
  truncatedResponse,
  udpResponseLimit,
  type BuiltResponse,
} from './dns-response.js';
import { RATE_LIMIT_DEFAULTS, ResponseRateLimiter, type RateDecision, type RateLimitSettings } from './response-rate-limit.js';
import { TCP_LIMIT_DEFAULTS, TcpGuard, type TcpLimits } from './tcp-guard.js';
import { parseCaa } from './zone-records.js';
import type { ZoneView } from './zone.js';

type Packet = dns2.Packet;
type Send = (response: Buffer) => unknown;
type Transport = 'udp' | 'tcp';

/** A running DNS server. */
export interface DnsServerHandle {
  /** Port the UDP socket is bound to (the one asked for, or the ephemeral one for port 0). */
  readonly udpPort: number;
  /** Port the TCP listener is bound to; differs from `udpPort` only when port 0 was asked for. */
  readonly tcpPort: number;
  /** Stops both listeners and drops open TCP connections. Safe to call more than once. */
  close(): Promise<void>;
}

/** What {@link startDnsServer} needs. */
export interface DnsServerOptions {
  /** The zone to answer for; read on every query, so it can change while the server runs. */
  zone: ZoneView;
  /** UDP and TCP port; 0 picks an ephemeral port for each (they may then differ). */
  port: number;
  /** Address to bind, e.g. '0.0.0.0', '::' or '127.0.0.1'. */
  bind: string;
  /** Used as given (the caller adds context such as `component: 'dns'`); per-query lines are debug. */
  logger: Logger;
  /**
   * UDP response rate limiting per source network (see {@link RateLimitSettings}); fields left
   * out take {@link RATE_LIMIT_DEFAULTS}, `false` turns it off (benchmarks only).
   */
  rateLimit?: Partial<RateLimitSettings> | false;
  /** Monotonic milliseconds for the rate limiter; tests pass a fake clock. Default `performance.now`. */
  clock?: () => number;
  /** What one TCP client may hold (see {@link TcpLimits}); fields left out take {@link TCP_LIMIT_DEFAULTS}. */
  tcp?: Partial<TcpLimits>;
}

const isDomain = (value: string): boolean => value.split('.').every(isLabel) && value.length <= 253;
const isFunction = (value: unknown): boolean => typeof value === 'function';

const OptionsSchema = z.object({
  port: z.number().int().min(0).max(65535),
  bind: z.string().refine((value) => net.isIP(value) !== 0, 'must be an IP address such as 0.0.0.0, :: or 127.0.0.1'),
  zone: z.object({
    domain: z.string().refine(isDomain, "must be a lowercase domain without trailing dot, e.g. 'example.net'"),
    publicIp: z.string().refine(net.isIPv4, 'must be an IPv4 address'),
    publicIp6: z.string().refine(net.isIPv6, 'must be an IPv6 address').optional(),
    isClaimed: z.custom<ZoneView['isClaimed']>(isFunction, 'must be a function'),
    serial: z.custom<ZoneView['serial']>(isFunction, 'must be a function'),
    recordsAt: z.custom<ZoneView['recordsAt']>(isFunction, 'must be a function'),
    hasRecordsBelow: z.custom<NonNullable<ZoneView['hasRecordsBelow']>>(isFunction, 'must be a function').optional(),
    caa: z
      .array(z.string().refine((text) => parseCaa(text) !== null, `must be a CAA record such as '0 issue "letsencrypt.org"'`))
      .readonly()
      .optional(),
  }),
  rateLimit: z
    .union([
      z.literal(false),
      z
        .object({
          responsesPerSecond: z.number().positive().max(1_000_000),
          burst: z.number().int().min(1).max(1_000_000),
          slip: z.number().int().min(0).max(10),
          maxSources: z.number().int().min(1).max(10_000_000),
          exemptLoopback: z.boolean(),
        })
        .partial()
        .strict(),
    ])
    .optional(),
  clock: z.custom<() => number>(isFunction, 'must be a function').optional(),
  tcp: z
    .object({
      maxConnections: z.number().int().min(1).max(1_000_000),
      maxConnectionsPerNetwork: z.number().int().min(1).max(1_000_000),
      queryDeadlineMs: z.number().int().min(1).max(3_600_000),
      maxUnsentBytes: z.number().int().min(0).max(1024 ** 3),
    })
    .partial()
    .strict()
    .optional(),
});

// Only for validation: the zone itself is used as given, since it may be a class whose methods
// need their `this` and whose state changes after start.
function validateOptions(options: DnsServerOptions): void {
  const result = OptionsSchema.safeParse(options);
  if (result.success) return;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`);
  throw new UdnsError('config_invalid', `invalid DNS server options: ${problems.join('; ')}`);
}

function rateLimiterFor(options: DnsServerOptions): ResponseRateLimiter | null {
  if (options.rateLimit === false) return null;
  const clock = options.clock ?? (() => performance.now());
  const given = Object.entries(options.rateLimit ?? {}).filter(([, value]) => value !== undefined);
  return new ResponseRateLimiter({ ...RATE_LIMIT_DEFAULTS, ...Object.fromEntries(given) }, clock);
}

function peerOf(client: unknown): string | undefined {
  if (client instanceof net.Socket) return client.remoteAddress;
  return (client as RemoteInfo | undefined)?.address;
}

function listenUdp(socket: dns2.UDPServer, port: number, bind: string): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, bind, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function listenTcp(server: dns2.TCPServer, port: number, bind: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Starts the zone's authoritative DNS server on UDP and TCP.
 *
 * Responses are encoded here ({@link encodeWithin}), not by dns2: over UDP within the size the
 * client advertised (512 without EDNS, at most {@link EDNS_UDP_PAYLOAD_SIZE}), an answer that
 * does not fit going out TC=1 so the client retries over TCP; over TCP up to 65,535 bytes. UDP
 * responses are rate-limited per source network ({@link RateLimitSettings}); TCP is not, but its
 * connections are bounded ({@link TcpLimits}: how many, per network, a query at least every
 * 10 s, and how much unread answer a client may leave).
 *
 * dns2's per-transport servers are used instead of `dns2.createServer`, whose `listen()` binds
 * TCP to every interface when asked for port 0, never settles when a bind fails, and hides the
 * TCP server whose idle connections (10 s keep-alive) would otherwise hold `close()` open.
 *
 * @throws UdnsError `config_invalid` for bad options (all problems listed), `port_unavailable`
 *   when either socket cannot be bound.
 */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServerHandle> {
  validateOptions(options);
  const { zone, port, bind, logger } = options;

  const udp = dns2.createUDPServer({ type: net.isIPv6(bind) ? 'udp6' : 'udp4' });
  const tcp = dns2.createTCPServer();
  const tcpSockets = new Set<net.Socket>();

  const limiter = rateLimiterFor(options);
  const given = Object.entries(options.tcp ?? {}).filter(([, value]) => value !== undefined);
  const tcpGuard = new TcpGuard({ ...TCP_LIMIT_DEFAULTS, ...Object.fromEntries(given) });

  /** Encodes within the transport's size limit and sends; returns whether it was truncated. */
  const deliver = (send: Send, response: Packet, request: Packet, transport: Transport): boolean => {
    const limit = transport === 'udp' ? udpResponseLimit(request) : MAX_TCP_MESSAGE_SIZE;
    let encoded: { bytes: Buffer; truncated: boolean };
    try {
      encoded = encodeWithin(response, limit);
    } catch (error) {
      // A record that cannot be encoded (a malformed address in the directory) must still get
      // an answer.
      logger.error({ transport, err: error }, 'dns response could not be encoded, answering SERVFAIL');
      encoded = encodeWithin(servfailFor(request), limit);
    }
    // UDP's send returns a promise that rejects when the datagram cannot go out (socket
    // closing, unreachable peer, a spoofed port 0): network noise, logged at debug.
    const onSendError = (error: unknown): void => logger.debug({ transport, err: error }, 'dns response not sent');
    try {
      Promise.resolve(send(encoded.bytes)).catch(onSendError);
    } catch (error) {
      onSendError(error);
    }
    return encoded.truncated;
  };

  // Synchronous on purpose: dns2 emits requests from event listeners, where a rejected promise
  // would be unhandled and take the process down. Every path either sends or returns having
  // decided to drop, so no request is left pending.
  const handle = (request: Packet, send: Send, client: unknown, transport: Transport): void => {
    if (client instanceof net.Socket) {
      // dns2 goes on parsing what a connection already sent after we dropped it.
      if (client.destroyed) return;
      // dns2 writes every answer whatever the client reads: bound what it may leave unread.
      if (tcpGuard.notReading(client)) {
        logger.debug({ transport, peer: client.remoteAddress, unsent: client.writableLength }, 'dns tcp client not reading its answers, dropped');
        client.destroy();
        return;
      }
      tcpGuard.queried(client);
    }
    const peer = peerOf(client);
    // Decided before any work, so a flood of refused queries costs no lookups. Responses
    // (QR=1) are never answered and take no token.
    let rateLimit: RateDecision = 'send';
    if (transport === 'udp' && limiter !== null && peer !== undefined && request.header.qr === 0) rateLimit = limiter.decide(peer);

    let built: BuiltResponse | { kind: 'servfail'; packet: Packet } | { kind: 'rate-limited'; packet: null };
    if (rateLimit === 'drop') {
      built = { kind: 'rate-limited', packet: null };
    } else {
      try {
        built = buildResponse(zone, request);
      } catch (error) {
        logger.error({ transport, err: error }, 'dns zone lookup failed, answering SERVFAIL');
        built = { kind: 'servfail', packet: servfailFor(request) };
      }
    }

    let truncated = false;
    if (built.packet !== null) {
      // A slipped response is the TC=1 form: tiny, and a real client retries it over TCP.
      const response = rateLimit === 'slip' ? truncatedResponse(built.packet) : built.packet;
      truncated = deliver(send, response, request, transport) || rateLimit === 'slip';
    } else if (client instanceof net.Socket) {
      // dns2 counts each TCP request until its send and keeps a half-closed connection open
      // while any is pending, so a request we never answer would pin it. A peer sending
      // responses over TCP is not a resolver: answers already queued are flushed, then FIN.
      client.end();
    }

    if (logger.isLevelEnabled('debug')) {
      const question = request.questions[0];
      logger.debug(
        {
          transport,
          peer,
          id: request.header.id,
          name: question?.name,
          type: question?.type,
          kind: built.kind,
          rcode: built.packet?.header.rcode,
          truncated,
          rateLimit,
        },
        'dns query',
      );
    }
  };

  // Messages too short for a header (or, on TCP, a broken frame, which also drops the
  // connection) have no id to answer to: dns2 reports them here and we drop them.
  const onRequestError = (transport: Transport) => (error: Error) =>
    logger.debug({ transport, err: error.message }, 'undecodable dns message dropped');

  udp.on('request', (request, send, client) => handle(request, send, client, 'udp'));
  udp.on('requestError', onRequestError('udp'));
  tcp.on('request', (request: Packet, send: Send, client: unknown) => handle(request, send, client, 'tcp'));
  tcp.on('requestError', onRequestError('tcp'));
  tcp.on('connection', (socket: net.Socket) => {
    // dns2 has its error listener on the socket already (reported through 'requestError').
    const refused = tcpGuard.admit(socket);
    if (refused !== null) {
      logger.debug({ transport: 'tcp', peer: socket.remoteAddress, refused, open: tcpGuard.connections }, 'dns tcp connection refused');
      socket.destroy();
      return;
    }
    tcpSockets.add(socket);
    socket.once('close', () => tcpSockets.delete(socket));
    // dns2 only end()s an idle connection; with its allowHalfOpen a peer that never sends
    // FIN would keep the socket forever. destroySoon frees it once our FIN is out, but waits for
    // every queued answer first: nothing having moved for the whole idle time, answers still
    // queued mean the peer takes none, and the socket goes at once.
    socket.on('timeout', () => {
      if (socket.writableLength > 0) socket.destroy();
      else socket.destroySoon();
    });
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const udpClosed = new Promise<void>((resolve) => udp.close(() => resolve()));
      const tcpClosed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const socket of tcpSockets) socket.destroy();
      await Promise.all([udpClosed, tcpClosed]);
    })();
    return closing;
  };

  let udpPort: number;
  let tcpPort: number;
  try {
    [udpPort, tcpPort] = await Promise.all([listenUdp(udp, port, bind), listenTcp(tcp, port, bind)]);
  } catch (error) {
    await close();
    throw new UdnsError(
      'port_unavailable',
      `cannot listen for DNS on ${bind} port ${port}: ${(error as Error).message}; ` +
        'free the port or choose another (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
      { cause: error },
    );
  }
  const onSocketError = (transport: Transport) => (error: Error) =>
    logger.error({ transport, err: error }, 'dns socket error');
  udp.on('error', onSocketError('udp'));
  tcp.on('error', onSocketError('tcp'));

  logger.info({ bind, udpPort, tcpPort, domain: zone.domain }, 'dns server listening');
  return {
    udpPort,
    tcpPort,
    close: async () => {
      const first = closing === undefined;
      await close();
      if (first) logger.info({ udpPort, tcpPort }, 'dns server closed');
    },
  };
}
