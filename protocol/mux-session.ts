import http2 from 'node:http2';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { tuneWindows, type WindowTuner } from './bdp-window.js';
import { duplexFacade } from './duplex-facade.js';
import type { AgentTunnelMux, EdgeTunnelMux } from './tunnel-mux.js';
import { FrameSession } from './frame-mux/frame-session.js';
import {
  CONNECTION_WINDOW_BYTES,
  MAX_STREAM_WINDOW_BYTES,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  MAX_SESSION_MEMORY_MB,
  MAX_STREAMS_PER_TUNNEL,
  STREAMS_PER_TUNNEL,
  STREAM_WINDOW_BYTES,
  TUNNEL_WINDOW_BUDGET_BYTES,
} from './limits.js';

/*
 * The tunnel multiplexer: HTTP/2 over the tunnel's byte stream (a raw upgraded socket or a
 * WebSocket stream). The edge is the HTTP/2 client (it opens one stream per visitor), the
 * agent the server. HTTP/2 brings credit-on-read flow control, RST_STREAM, GOAWAY and PING;
 * docs/decisions.md has the measurements against yamux-js and libp2p-yamux.
 */

const settings: http2.Settings = {
  enablePush: false,
  initialWindowSize: STREAM_WINDOW_BYTES,
  // What the agent takes: as many streams as its memory holds (STREAMS_PER_TUNNEL); the edge
  // caps its visitor slots by what the agent advertised.
  maxConcurrentStreams: STREAMS_PER_TUNNEL,
  // What the peer may send us; node:http2 itself sends DATA frames of at most 16 KiB whatever
  // this says (it registers no nghttp2 read-length callback).
  maxFrameSize: 64 * 1024,
};

/**
 * The connection window for a stream window: twice it, so that one stream's window is never
 * capped by the connection's, and at least {@link CONNECTION_WINDOW_BYTES}. node:http2 returns
 * connection credit as soon as it has read a DATA frame (a paused stream holds back only its
 * own), so stalled streams do not eat into it.
 */
export function connectionWindowFor(streamWindow: number): number {
  return Math.max(CONNECTION_WINDOW_BYTES, 2 * streamWindow);
}

/** The session's window tuner (protocol/bdp-window.ts), for tests and diagnostics. */
const tuners = new WeakMap<http2.Http2Session, WindowTuner>();

/** The BDP window tuner running on a session opened by this module. */
export function windowTunerOf(session: http2.Http2Session): WindowTuner | undefined {
  return tuners.get(session);
}

/**
 * Node 20 aborts the whole process (`Assertion failed: is_write_in_progress()` in
 * Http2Session::OnStreamAfterWrite) when an HTTP/2 session drives an upgraded TLSSocket
 * natively, on either side. Behind a plain JS Duplex, http2 uses its generic stream path.
 */
function shieldTls(transport: Duplex): Duplex {
  if (!(transport instanceof TLSSocket)) return transport;
  const shield = duplexFacade(transport, { passErrors: false });
  transport.on('error', (error) => shield.destroy(error));
  return shield;
}

/**
 * Which multiplexer a tunnel runs: our own frames (protocol/frame-mux/, decisions §74) when both
 * ends said so on the upgrade ({@link MUX_HEADER}), else HTTP/2 (every agent and edge before it).
 */
export type MuxKind = 'frames' | 'http2';

/** Opens the edge's side of the mux over `transport`. */
export function createEdgeMux(transport: Duplex, kind: MuxKind = 'http2'): EdgeTunnelMux {
  return kind === 'frames' ? createFrameMux(transport, 'edge') : createHttp2EdgeMux(transport);
}

/** Opens the agent's side of the mux over `transport`. */
export function createAgentMux(transport: Duplex, kind: MuxKind = 'http2'): AgentTunnelMux {
  return kind === 'frames' ? createFrameMux(transport, 'agent') : createHttp2AgentMux(transport);
}

/** A frame mux with the tunnel's limits: the agent takes what its memory holds, windows grow within the budget. */
export function createFrameMux(transport: Duplex, role: 'edge' | 'agent'): FrameSession {
  return new FrameSession(transport, {
    role,
    maxStreams: STREAMS_PER_TUNNEL,
    initialWindow: STREAM_WINDOW_BYTES,
    maxWindow: MAX_STREAM_WINDOW_BYTES,
    windowBudget: TUNNEL_WINDOW_BUDGET_BYTES,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  });
}

/** {@link createEdgeMux} as the node:http2 session it is (tests of HTTP/2 itself: windows, GOAWAY). */
export function createHttp2EdgeMux(transport: Duplex): http2.ClientHttp2Session {
  transport = shieldTls(transport);
  const session = http2.connect('http://tunnel.udns', {
    createConnection: () => transport,
    settings,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    peerMaxConcurrentStreams: MAX_STREAMS_PER_TUNNEL,
  });
  tieLifetimes(session, transport);
  adaptWindows(session, transport);
  return session;
}

/** {@link createAgentMux} as the node:http2 session it is. */
export function createHttp2AgentMux(transport: Duplex): http2.ServerHttp2Session {
  transport = shieldTls(transport);
  const session = http2.performServerHandshake(transport, {
    settings,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
  });
  tieLifetimes(session, transport);
  adaptWindows(session, transport);
  return session;
}

/**
 * Grows this end's receive windows with the measured bandwidth-delay product (downloads at the
 * edge, uploads at the agent). Bytes received are read from the socket's own counter when
 * node:http2 drives it natively (the raw transport), or counted on the JS stream it reads
 * (WebSocket, TLS shield); http2 has already attached and paused that stream, so one more
 * 'data' listener only watches.
 */
function adaptWindows(session: http2.Http2Session, transport: Duplex): void {
  let bytesReceived: () => number;
  if (transport instanceof Socket) {
    const socket = transport;
    bytesReceived = () => socket.bytesRead;
  } else {
    let counted = 0;
    transport.on('data', (chunk: Buffer) => { counted += chunk.length; });
    bytesReceived = () => counted;
  }
  tuners.set(session, tuneWindows(session, {
    initialWindow: STREAM_WINDOW_BYTES,
    maxWindow: MAX_STREAM_WINDOW_BYTES,
    connectionWindowFor,
    bytesReceived,
    windowBudget: TUNNEL_WINDOW_BUDGET_BYTES,
    openStreams: () => openStreamCount(session),
  }));
}

/**
 * Streams open on `session`, read from node:http2's own table (kState.streams, plus requests
 * still waiting for an id): Node has no public count, and counting in listeners would cost
 * every visitor stream two calls for a number needed a few times a second. A Node without that
 * table counts as full of streams: windows then stay at their floor (slower, never unbounded);
 * bdp-window.test.ts checks the count.
 */
export function openStreamCount(session: http2.Http2Session): number {
  stateSymbol ??= Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'state') ?? null;
  if (stateSymbol === null) return Number.MAX_SAFE_INTEGER;
  const state = (session as unknown as Record<symbol, { streams?: Map<number, unknown>; pendingStreams?: Set<unknown> } | undefined>)[stateSymbol];
  if (state?.streams === undefined) return Number.MAX_SAFE_INTEGER;
  return state.streams.size + (state.pendingStreams?.size ?? 0);
}

let stateSymbol: symbol | null | undefined;

/**
 * One life for session and transport: either ending ends the other, and an unanswered PING
 * ends both. Node's http2 watches only the socket's 'close', and an upgraded socket is
 * allowHalfOpen, so a peer's FIN would otherwise leave the session hanging until the heartbeat.
 */
function tieLifetimes(session: http2.Http2Session, transport: Duplex): void {
  const transportGone = (): void => {
    if (!session.destroyed) session.destroy();
  };
  transport.once('end', transportGone);
  transport.once('close', transportGone);
  transport.on('error', transportGone);
  // Errors surface as 'close'; owners listen there. This listener keeps them from crashing.
  session.on('error', () => {});

  const heartbeat = setInterval(() => {
    if (session.destroyed) return;
    const deadline = setTimeout(() => session.destroy(), HEARTBEAT_TIMEOUT_MS);
    const sent = session.ping((error) => {
      clearTimeout(deadline);
      if (error) session.destroy();
    });
    if (!sent) clearTimeout(deadline);
  }, HEARTBEAT_INTERVAL_MS);
  heartbeat.unref();

  session.once('connect', () => {
    // Raise the connection window from HTTP/2's 64 KiB default: it caps every stream's sum.
    if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
  });
  if (!session.connecting && !session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);

  session.once('close', () => {
    clearInterval(heartbeat);
    // A ws-backed transport stays open when the peer is silent: close it explicitly.
    transport.destroy();
  });
}
