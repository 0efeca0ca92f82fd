import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { duplexFacade } from './duplex-facade.js';
import {
  CONNECTION_WINDOW_BYTES,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  MAX_SESSION_MEMORY_MB,
  MAX_STREAMS_PER_TUNNEL,
  STREAMS_PER_TUNNEL,
  STREAM_WINDOW_BYTES,
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
  maxFrameSize: 64 * 1024,
};

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

/** Opens the edge's side of the mux over `transport`. */
export function createEdgeMux(transport: Duplex): http2.ClientHttp2Session {
  transport = shieldTls(transport);
  const session = http2.connect('http://tunnel.udns', {
    createConnection: () => transport,
    settings,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    peerMaxConcurrentStreams: MAX_STREAMS_PER_TUNNEL,
  });
  tieLifetimes(session, transport);
  return session;
}

/** Opens the agent's side of the mux over `transport`. */
export function createAgentMux(transport: Duplex): http2.ServerHttp2Session {
  transport = shieldTls(transport);
  const session = http2.performServerHandshake(transport, {
    settings,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
  });
  tieLifetimes(session, transport);
  return session;
}

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
