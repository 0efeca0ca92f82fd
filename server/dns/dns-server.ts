import dgram, { type RemoteInfo } from 'node:dgram';
import net from 'node:net';
import dns2 from 'dns2';
import { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';
import { isLabel } from '../../protocol/names.js';
import type { Logger } from '../logger.js';
import { ANSWER_CACHE_DEFAULTS, AnswerCache, type AnswerCacheLimits } from './answer-cache.js';
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
import { TcpMessageReader } from './tcp-reader.js';
import { parseCaa } from './zone-records.js';
import { RecordingZone } from './zone-reads.js';
import type { ZoneView } from './zone.js';

const { Packet } = dns2;
type Packet = dns2.Packet;
type Transport = 'udp' | 'tcp';

/** A TCP connection with no traffic this long is closed (RFC 7766 §6.2.3 recommends at least 10 s). */
const TCP_IDLE_TIMEOUT_MS = 10_000;

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
  /**
   * How many encoded UDP answers to keep for reuse (see {@link AnswerCache}); fields left out
   * take {@link ANSWER_CACHE_DEFAULTS}, `false` turns the cache off.
   */
  answerCache?: Partial<AnswerCacheLimits> | false;
  /** Told of every query answered (or not: `answer` null), cache hits included: the metrics count here. */
  onQuery?: (transport: 'udp' | 'tcp', request: Buffer, answer: Buffer | null) => void;
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
  answerCache: z
    .union([
      z.literal(false),
      z
        .object({
          maxEntries: z.number().int().min(1).max(10_000_000),
          maxBytes: z.number().int().min(1024).max(1024 ** 3),
        })
        .partial()
        .strict(),
    ])
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

function answerCacheFor(options: DnsServerOptions): AnswerCache | null {
  if (options.answerCache === false) return null;
  const given = Object.entries(options.answerCache ?? {}).filter(([, value]) => value !== undefined);
  return new AnswerCache({ ...ANSWER_CACHE_DEFAULTS, ...Object.fromEntries(given) });
}

/**
 * A UDP socket whose sends skip the address lookup: every address it sends to is an IP
 * literal (a query's source as the kernel reported it, or the bind address), while dgram's
 * default runs each one through dns.lookup and sends a tick later.
 */
function createUdpSocket(bind: string): dgram.Socket {
  const family = net.isIPv6(bind) ? 6 : 4;
  return dgram.createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    lookup: (address, _options, callback) => callback(null, address, family),
  });
}

function listenUdp(socket: dgram.Socket, port: number, bind: string): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, bind, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function listenTcp(server: net.Server, port: number, bind: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** What the server made of one request: the bytes to send (none when it is dropped), and what to log. */
interface Outcome {
  bytes: Buffer | null;
  kind: BuiltResponse['kind'] | 'servfail' | 'rate-limited';
  rcode: number | undefined;
  truncated: boolean;
  /** The bytes are the zone's own answer, sent whole or TC=1 for its size: fit for the answer cache. */
  reusable: boolean;
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
 * UDP is served from a plain dgram socket: a query the {@link AnswerCache} has seen is answered
 * from its bytes (ID and name case patched) without being parsed, once the rate limiter has let
 * it through; any other is parsed by dns2, answered, and its answer cached. TCP is a plain
 * net server whose connections are read by a {@link TcpMessageReader}: a bounded number of
 * messages per turn of the event loop, nothing more once a connection is dropped, and the
 * same answer cache (TCP entries apart from UDP ones, which may be truncated).
 *
 * @throws UdnsError `config_invalid` for bad options (all problems listed), `port_unavailable`
 *   when either socket cannot be bound.
 */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServerHandle> {
  validateOptions(options);
  const { zone, port, bind, logger } = options;

  const udp = createUdpSocket(bind);
  const tcp = net.createServer({ allowHalfOpen: true });
  const tcpSockets = new Set<net.Socket>();

  const limiter = rateLimiterFor(options);
  const cache = answerCacheFor(options);
  const given = Object.entries(options.tcp ?? {}).filter(([, value]) => value !== undefined);
  const tcpGuard = new TcpGuard({ ...TCP_LIMIT_DEFAULTS, ...Object.fromEntries(given) });

  // A response that cannot go out (socket closing, unreachable peer, a spoofed port 0) is
  // network noise, logged at debug.
  const onSendError = (transport: Transport) => (error: unknown): void => logger.debug({ transport, err: error }, 'dns response not sent');
  const onUdpSendError = onSendError('udp');
  const onTcpSendError = onSendError('tcp');

  const sendUdp = (bytes: Buffer, to: RemoteInfo): void => {
    // Without a callback dgram drops a failed send silently; one costs a tick per answer, so
    // it is there only when its failure would be logged.
    const onSent = logger.isLevelEnabled('debug') ? (error: Error | null) => error !== null && onUdpSendError(error) : undefined;
    try {
      udp.send(bytes, to.port, to.address, onSent);
    } catch (error) {
      onUdpSendError(error);
    }
  };

  const sendTcp = (socket: net.Socket, bytes: Buffer): void => {
    if (socket.destroyed || !socket.writable) return;
    // One write per answer, length prefix included (RFC 1035 §4.2.2).
    const framed = Buffer.allocUnsafe(2 + bytes.length);
    framed.writeUInt16BE(bytes.length, 0);
    framed.set(bytes, 2);
    try {
      socket.write(framed);
    } catch (error) {
      onTcpSendError(error);
    }
  };

  /** Encodes within the transport's size limit; a response that cannot be encoded becomes SERVFAIL. */
  const encode = (response: Packet, request: Packet, transport: Transport): { bytes: Buffer; truncated: boolean; servfail: boolean } => {
    const limit = transport === 'udp' ? udpResponseLimit(request) : MAX_TCP_MESSAGE_SIZE;
    try {
      return { ...encodeWithin(response, limit), servfail: false };
    } catch (error) {
      // A record that cannot be encoded (a malformed address in the directory) must still get
      // an answer.
      logger.error({ transport, err: error }, 'dns response could not be encoded, answering SERVFAIL');
      return { ...encodeWithin(servfailFor(request), limit), servfail: true };
    }
  };

  /**
   * The response to one request, read from `zoneView` (the zone, or a recorder of it), for a
   * request the rate limiter sent, slipped or dropped. Synchronous on purpose: requests arrive
   * in event listeners, where a rejected promise would be unhandled and take the process down.
   */
  const respond = (request: Packet, zoneView: ZoneView, transport: Transport, rateLimit: RateDecision): Outcome => {
    if (rateLimit === 'drop') return { bytes: null, kind: 'rate-limited', rcode: undefined, truncated: false, reusable: false };
    let built: BuiltResponse | { kind: 'servfail'; packet: Packet };
    try {
      built = buildResponse(zoneView, request);
    } catch (error) {
      logger.error({ transport, err: error }, 'dns zone lookup failed, answering SERVFAIL');
      built = { kind: 'servfail', packet: servfailFor(request) };
    }
    if (built.packet === null) return { bytes: null, kind: built.kind, rcode: undefined, truncated: false, reusable: false };
    // A slipped response is the TC=1 form: tiny, and a real client retries it over TCP.
    const response = rateLimit === 'slip' ? truncatedResponse(built.packet) : built.packet;
    const encoded = encode(response, request, transport);
    return {
      bytes: encoded.bytes,
      kind: built.kind,
      rcode: built.packet.header.rcode,
      truncated: encoded.truncated || rateLimit === 'slip',
      reusable: built.kind === 'answered' && rateLimit === 'send' && !encoded.servfail,
    };
  };

  const logQuery = (transport: Transport, peer: string | undefined, request: Packet, outcome: Omit<Outcome, 'bytes' | 'reusable'>, rateLimit: RateDecision, cached?: boolean): void => {
    const question = request.questions[0];
    logger.debug(
      {
        transport,
        peer,
        id: request.header.id,
        name: question?.name,
        type: question?.type,
        kind: outcome.kind,
        rcode: outcome.rcode,
        truncated: outcome.truncated,
        rateLimit,
        cached,
      },
      'dns query',
    );
  };

  // Messages too short for a header (or, on TCP, a broken frame, which also drops the
  // connection) have no id to answer to: they are dropped.
  const onRequestError = (transport: Transport) => (error: Error) =>
    logger.debug({ transport, err: error.message }, 'undecodable dns message dropped');
  const onUdpRequestError = onRequestError('udp');

  const answerUdp = (bytes: Buffer, from: RemoteInfo): void => {
    // Decided before any work, so a flood of refused queries costs no lookups. Responses
    // (QR=1) are never answered and take no token, nor does what has no header.
    let rateLimit: RateDecision = 'send';
    if (limiter !== null && bytes.length >= Packet.HEADER_SIZE && (bytes[2]! & 0x80) === 0) rateLimit = limiter.decide(from.address);

    if (cache !== null && rateLimit === 'send') {
      const cached = cache.answer(bytes, zone);
      if (cached !== null) {
        sendUdp(cached, from);
        options.onQuery?.('udp', bytes, cached);
        if (logger.isLevelEnabled('debug')) {
          const outcome = { kind: 'answered' as const, rcode: cached[3]! & 0x0f, truncated: (cached[2]! & 0x02) !== 0 };
          logQuery('udp', from.address, Packet.parse(bytes), outcome, rateLimit, true);
        }
        return;
      }
    }

    let request: Packet;
    try {
      request = Packet.parse(bytes);
    } catch (error) {
      onUdpRequestError(error as Error);
      return;
    }
    const recorder = cache !== null && rateLimit === 'send' ? new RecordingZone(zone) : null;
    const outcome = respond(request, recorder ?? zone, 'udp', rateLimit);
    options.onQuery?.('udp', bytes, outcome.bytes);
    if (outcome.bytes !== null) {
      sendUdp(outcome.bytes, from);
      if (recorder !== null && outcome.reusable) cache?.remember(bytes, outcome.bytes, recorder.reads);
    }
    if (logger.isLevelEnabled('debug')) logQuery('udp', from.address, request, outcome, rateLimit, false);
  };
  udp.on('message', (bytes: Buffer, from: RemoteInfo) => {
    try {
      answerUdp(bytes, from);
    } catch (error) {
      // Nothing above is expected to throw; if something does, one query is lost, not the edge.
      logger.error({ transport: 'udp', peer: from.address, err: error }, 'dns query failed, dropped');
    }
  });

  const onTcpRequestError = onRequestError('tcp');

  /**
   * Answers one message a TCP connection sent; false when the connection is done with (dropped
   * or closing), so its reader stops at once.
   */
  const answerTcp = (bytes: Buffer, socket: net.Socket): boolean => {
    // Answers are written whatever the client reads: bound what it may leave unread.
    if (tcpGuard.notReading(socket)) {
      logger.debug({ transport: 'tcp', peer: socket.remoteAddress, unsent: socket.writableLength }, 'dns tcp client not reading its answers, dropped');
      socket.destroy();
      return false;
    }
    // TCP is exempt from rate limiting: its handshake proves the source.
    if (cache !== null) {
      const cached = cache.answer(bytes, zone, 'tcp');
      if (cached !== null) {
        tcpGuard.queried(socket);
        sendTcp(socket, cached);
        options.onQuery?.('tcp', bytes, cached);
        if (logger.isLevelEnabled('debug')) {
          const outcome = { kind: 'answered' as const, rcode: cached[3]! & 0x0f, truncated: (cached[2]! & 0x02) !== 0 };
          logQuery('tcp', socket.remoteAddress, Packet.parse(bytes), outcome, 'send', true);
        }
        return true;
      }
    }
    let request: Packet;
    try {
      request = Packet.parse(bytes);
    } catch (error) {
      // No header to answer to, or a broken message: the stream cannot be trusted further.
      // The answers before it are still sent (the reader corks them for one write per batch).
      onTcpRequestError(error as Error);
      while (socket.writableCorked > 0) socket.uncork();
      socket.destroy();
      return false;
    }
    tcpGuard.queried(socket);
    const recorder = cache !== null ? new RecordingZone(zone) : null;
    const outcome = respond(request, recorder ?? zone, 'tcp', 'send');
    options.onQuery?.('tcp', bytes, outcome.bytes);
    if (logger.isLevelEnabled('debug')) logQuery('tcp', socket.remoteAddress, request, outcome, 'send', false);
    if (outcome.bytes === null) {
      // A peer sending responses over TCP is not a resolver: answers already queued are
      // flushed, then FIN, and nothing more it sent is read.
      socket.end();
      return false;
    }
    sendTcp(socket, outcome.bytes);
    if (recorder !== null && outcome.reusable) cache?.remember(bytes, outcome.bytes, recorder.reads, 'tcp');
    return true;
  };

  tcp.on('connection', (socket: net.Socket) => {
    socket.on('error', (error: Error) => logger.debug({ transport: 'tcp', peer: socket.remoteAddress, err: error.message }, 'dns tcp connection error'));
    const refused = tcpGuard.admit(socket);
    if (refused !== null) {
      logger.debug({ transport: 'tcp', peer: socket.remoteAddress, refused, open: tcpGuard.connections }, 'dns tcp connection refused');
      socket.destroy();
      return;
    }
    tcpSockets.add(socket);
    socket.once('close', () => tcpSockets.delete(socket));
    // With allowHalfOpen (so a client that sent its query with end() still gets the answer) a
    // peer that never sends FIN would keep the socket forever. destroySoon frees it once our
    // FIN is out, but waits for every queued answer first: nothing having moved for the whole
    // idle time, answers still queued mean the peer takes none, and the socket goes at once.
    socket.setTimeout(TCP_IDLE_TIMEOUT_MS);
    socket.on('timeout', () => {
      if (socket.writableLength > 0) socket.destroy();
      else socket.destroySoon();
    });
    new TcpMessageReader(socket, {
      message: (bytes) => {
        try {
          return answerTcp(bytes, socket);
        } catch (error) {
          // Nothing above is expected to throw; if something does, one connection is lost, not the edge.
          logger.error({ transport: 'tcp', peer: socket.remoteAddress, err: error }, 'dns query failed, connection dropped');
          socket.destroy();
          return false;
        }
      },
      broken: (reason) => {
        onTcpRequestError(new Error(`TCP message truncated: ${reason}`));
        socket.destroy();
      },
      // Every answer is written by now: our FIN follows them.
      ended: () => socket.end(),
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
