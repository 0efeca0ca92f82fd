import { z } from 'zod';
import { ERROR_CODES } from './errors.js';
import { MAX_ROUTES_PER_TUNNEL } from './limits.js';
import { PROTOCOL_VERSION } from './version.js';
import { RouteAccessWire } from './route-access.js';
import { PrivateAccess } from './private-route.js';
import { IndexAck, IndexBatch, IndexRefused, IndexWanted, ListShare, UnlistShare } from './index-sync.js';
import { OfferTransfer, TransferAccepted, TransferChecked, TransferFailed, TransferServed, TransferTicket } from './transfer.js';
import { TransferReport, TransferReportRefused } from './transfer-records.js';
import { SaleClosed, SaleDeclined, SaleOffered, SaleRequested } from './exchange.js';

/*
 * Control messages. One JSON object per line on the tunnel's control stream, parsed on both
 * sides with these schemas. Requests carry a `requestId` the answer echoes.
 */

const requestId = z.number().int().nonnegative();
const errorCode = z.enum(ERROR_CODES);

/**
 * Optional abilities an agent announces in `hello`; the edge uses one only when announced.
 * `cancel-stream`: the edge may ask (CancelStream) instead of sending RST_STREAM itself.
 */
export const AGENT_FEATURES = ['cancel-stream'] as const;

/** First message on the control stream, sent by the agent. */
export const Hello = z.object({
  type: z.literal('hello'),
  protocolVersion: z.literal(PROTOCOL_VERSION),
  agentVersion: z.string().max(64),
  features: z.array(z.string().max(32)).max(16).optional(),
}).strict();

/** The edge's answer to `hello`: who the token belongs to and how the edge is reached. */
export const Welcome = z.object({
  type: z.literal('welcome'),
  protocolVersion: z.literal(PROTOCOL_VERSION),
  edgeVersion: z.string().max(64),
  account: z.string(),
  /** Identifies this tunnel in the edge's logs and API. */
  tunnelId: z.string(),
}).strict();

/** What one route exposes. `http` covers local web servers and in-agent folder shares. */
export const RouteKind = z.enum(['http', 'tcp']);

/** Agent asks the edge to publish a route. */
export const RegisterRoute = z.object({
  type: z.literal('registerRoute'),
  requestId,
  kind: RouteKind,
  /** Wanted name for http routes; omitted means "pick a random readable one". */
  name: z.string().min(1).max(63).optional(),
  /** For tcp routes: public port to try first (the one this route had before a reconnect). */
  preferredPort: z.number().int().min(1).max(65535).optional(),
  /** Human description of the local side, shown by `udns status` (e.g. `http://127.0.0.1:3000`). */
  target: z.string().max(512),
  /**
   * Who may visit (`--basic-auth`, `--allow-ip`, `--deny-ip`; protocol/route-access.ts): the
   * edge checks every visitor connection against it before anything reaches the agent.
   * Passwords come as salted scrypt hashes only. An edge refuses the route when a network is malformed.
   */
  access: RouteAccessWire.optional(),
  /**
   * A private route (protocol/private-route.ts): no public URL at all; only its owner and these
   * members reach it, through `udns connect <name>`. `name` then names it in that command.
   */
  private: PrivateAccess.optional(),
}).strict();

/** The route is live: visitors of `url` now reach this agent on streams tagged `routeId`. */
export const RouteRegistered = z.object({
  type: z.literal('routeRegistered'),
  requestId,
  routeId: z.string(),
  kind: RouteKind,
  /** Name for http routes, and the tunnel's name for tcp routes. */
  name: z.string().optional(),
  /** Public port for tcp routes. */
  port: z.number().int().optional(),
  /** Public address, e.g. `http://alice.localhost:8080` or `tcp://localhost:20001`. */
  url: z.string(),
}).strict();

/** The route was not accepted; `code` says why (`name_taken`, `name_invalid`, …). */
export const RouteRefused = z.object({
  type: z.literal('routeRefused'),
  requestId,
  code: errorCode,
  message: z.string(),
}).strict();

/** Agent withdraws one of its routes. */
export const UnregisterRoute = z.object({
  type: z.literal('unregisterRoute'),
  routeId: z.string(),
}).strict();

/** The edge took a route away, e.g. `replaced` when the same account registered it elsewhere. */
export const RouteClosed = z.object({
  type: z.literal('routeClosed'),
  routeId: z.string(),
  code: errorCode,
  message: z.string(),
}).strict();

/**
 * Agent offers to serve an http route's visitors itself on `port` of its public address
 * (direct mode). `key` (hex, fresh per tunnel) keys the HMAC that proves, to the edge's
 * reachability check, that the answer comes from this agent (protocol/direct.ts).
 */
export const OfferDirect = z.object({
  type: z.literal('offerDirect'),
  routeId: z.string(),
  port: z.number().int().min(1).max(65535),
  key: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();

/** Why the edge could not reach a direct route: what the visitor would have hit. */
export const DirectFailure = z.enum(['timeout', 'refused', 'wrong answer', 'unreachable', 'not offered']);

/**
 * The edge's answer to `offerDirect`, sent after every check whose outcome changed: whether
 * DNS now sends the route's visitors to `address:port` directly, or to the edge (relay).
 */
export const DirectChecked = z.object({
  type: z.literal('directChecked'),
  routeId: z.string(),
  reachable: z.boolean(),
  /** The agent's public address as the edge observed it (what DNS answers when reachable). */
  address: z.string().max(64),
  port: z.number().int().min(1).max(65535),
  /** Set when not reachable. */
  reason: DirectFailure.optional(),
}).strict();

/**
 * The edge asks the agent to reset a visitor stream (the visitor went away mid-exchange).
 * The edge does not reset it itself: the agent is the HTTP/2 server, and nghttp2 ends a
 * server's session with INTERNAL_ERROR once it has received about 1000 RST_STREAMs faster than
 * 33/s (its "rapid reset" guard, not adjustable in Node 20). Visitors closing connections at
 * that rate, or an attacker doing it on purpose, would otherwise take the whole tunnel down.
 */
export const CancelStream = z.object({
  type: z.literal('cancelStream'),
  streamId: z.number().int().positive(),
}).strict();

/** A fatal problem with the whole tunnel; the sender closes the tunnel after it. */
export const TunnelError = z.object({
  type: z.literal('error'),
  code: errorCode,
  message: z.string(),
}).strict();

/** Everything the agent may send. */
export const AgentMessage = z.discriminatedUnion('type', [
  Hello, RegisterRoute, UnregisterRoute, OfferDirect,
  ListShare, IndexBatch, UnlistShare,
  OfferTransfer, TransferAccepted, TransferFailed, TransferServed,
  TransferReport,
  SaleOffered, SaleDeclined,
]);
/** Everything the edge may send. */
export const EdgeMessage = z.discriminatedUnion('type', [
  Welcome, RouteRegistered, RouteRefused, RouteClosed, DirectChecked, CancelStream, TunnelError,
  IndexWanted, IndexAck, IndexRefused,
  TransferChecked, TransferTicket,
  TransferReportRefused,
  SaleRequested, SaleClosed,
]);

export type Hello = z.infer<typeof Hello>;
export type Welcome = z.infer<typeof Welcome>;
export type RouteKind = z.infer<typeof RouteKind>;
export type RegisterRoute = z.infer<typeof RegisterRoute>;
export type RouteRegistered = z.infer<typeof RouteRegistered>;
export type RouteRefused = z.infer<typeof RouteRefused>;
export type UnregisterRoute = z.infer<typeof UnregisterRoute>;
export type RouteClosed = z.infer<typeof RouteClosed>;
export type TunnelError = z.infer<typeof TunnelError>;
export type CancelStream = z.infer<typeof CancelStream>;
export type OfferDirect = z.infer<typeof OfferDirect>;
export type DirectFailure = z.infer<typeof DirectFailure>;
export type DirectChecked = z.infer<typeof DirectChecked>;
export type AgentMessage = z.infer<typeof AgentMessage>;
export type EdgeMessage = z.infer<typeof EdgeMessage>;

export { MAX_ROUTES_PER_TUNNEL };
