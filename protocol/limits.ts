import os from 'node:os';

/** Largest control message, in bytes of its JSON line. Bigger lines end the tunnel. */
export const MAX_CONTROL_FRAME_BYTES = 64 * 1024;

/** Both ends send an HTTP/2 PING this often… */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** …and tear the tunnel down if it is not acknowledged within this long (dead in ≤ 20 s). */
export const HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * Per-stream flow-control window each tunnel starts with. A fixed window caps one stream at
 * window / round trip (1 MiB moves ~23 MB/s at 40 ms RTT), so each end grows its receive window
 * with the measured bandwidth-delay product (protocol/bdp-window.ts), up to
 * {@link MAX_STREAM_WINDOW_BYTES}.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
/**
 * Ceiling of the adapted stream window: what one stalled visitor can make the edge buffer
 * (and an upload the agent), and the window of the fastest single stream: 16 MiB carries
 * ~300 MB/s over a 40 ms round trip (grpc-go's BDP ceiling too).
 */
export const MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * What the stream windows of one end of a tunnel may add up to once grown: the memory stalled
 * streams can make it hold. Four streams at the ceiling; with more streams open each gets an
 * equal share, never under {@link STREAM_WINDOW_BYTES} (protocol/bdp-window.ts windowShare).
 */
export const TUNNEL_WINDOW_BUDGET_BYTES = 4 * MAX_STREAM_WINDOW_BYTES;
/** Connection-level window, shared by every stream of a tunnel: at least this, and twice the stream window. */
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * What one open stream costs an end of a tunnel in memory: the unit the stream limits are
 * counted in. bench:scale measured an open, idle WebSocket at 11 KB of edge RSS and 16 KB of
 * agent RSS (10,000 at once, after a GC); twice that leaves room for the socket and stream
 * buffers of a connection that is moving data.
 */
export const STREAM_MEMORY_BYTES = 32 * 1024;
/** Share of a machine's memory one tunnel's streams may take by default, at the edge and at the agent. */
export const TUNNEL_MEMORY_SHARE = 1 / 8;
/**
 * Concurrent streams one tunnel may carry, whatever the memory: the most an agent advertises in
 * its HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS and the ceiling of `--max-visitors-per-tunnel`.
 * More are refused, not queued forever.
 */
export const MAX_STREAMS_PER_TUNNEL = 65_536;
/** Of those, visitor streams (one stays free for the control stream). */
export const MAX_VISITOR_STREAMS_PER_TUNNEL = MAX_STREAMS_PER_TUNNEL - 1;
/** The fewest streams a tunnel is given however small the machine: the fixed limit of before. */
export const MIN_STREAMS_PER_TUNNEL = 1000;
/** One network (an IPv4 address, an IPv6 /64) may hold this fraction of a tunnel's visitor streams by default. */
export const VISITOR_NETWORK_SHARE = 1 / 4;

/**
 * Streams (the control stream included) one tunnel may carry on a machine with
 * `totalMemoryBytes` of memory: its {@link TUNNEL_MEMORY_SHARE} in units of
 * {@link STREAM_MEMORY_BYTES}, within {@link MIN_STREAMS_PER_TUNNEL} … {@link MAX_STREAMS_PER_TUNNEL}.
 * 1 GiB gives 4,096; 4 GiB 16,384; 16 GiB and more the ceiling.
 */
export function streamsForMemory(totalMemoryBytes: number): number {
  const fit = Math.floor((totalMemoryBytes * TUNNEL_MEMORY_SHARE) / STREAM_MEMORY_BYTES);
  return Math.min(MAX_STREAMS_PER_TUNNEL, Math.max(MIN_STREAMS_PER_TUNNEL, Number.isFinite(fit) ? fit : 0));
}

/** Visitor streams of a tunnel one client network may hold: a {@link VISITOR_NETWORK_SHARE} of them, at least 1. */
export function visitorStreamsPerNetwork(visitorStreamsPerTunnel: number): number {
  return Math.max(1, Math.floor(visitorStreamsPerTunnel * VISITOR_NETWORK_SHARE));
}

/** This machine's memory, or the container's limit when that is lower (cgroups; Node's process.constrainedMemory). */
export function machineMemoryBytes(): number {
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}

/** Streams this machine carries per tunnel: what an agent advertises (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const STREAMS_PER_TUNNEL = streamsForMemory(machineMemoryBytes());

/**
 * Visitor connections one tunnel carries when the edge is given no `--max-visitors-per-tunnel`:
 * what this machine's memory holds (streamsForMemory), less the control stream. The agent's
 * own advertised limit (from its memory, or 1000 from an older agent) caps it per tunnel.
 */
export const DEFAULT_VISITOR_STREAMS_PER_TUNNEL = STREAMS_PER_TUNNEL - 1;
/**
 * Visitor connections one client network (an IPv4 address, an IPv6 /64) may hold on one
 * tunnel by default: a quarter of it, so that it takes four networks keeping requests busy to
 * fill a name, while an office behind one NAT address still gets a quarter at once. Idle
 * keep-alive connections do not count against newcomers: they are closed to make room.
 */
export const DEFAULT_VISITOR_STREAMS_PER_NETWORK = visitorStreamsPerNetwork(DEFAULT_VISITOR_STREAMS_PER_TUNNEL);
/** Upper bound on HTTP/2 session buffering, in megabytes (node:http2 `maxSessionMemory`). */
export const MAX_SESSION_MEMORY_MB = 64;

/** Routes one tunnel may register. */
export const MAX_ROUTES_PER_TUNNEL = 32;

/** Agent reconnect backoff: first delay, cap, and the jitter fraction applied to each delay. */
export const RECONNECT_MIN_DELAY_MS = 100;
export const RECONNECT_MAX_DELAY_MS = 30_000;
export const RECONNECT_JITTER = 0.3;

/** How long the agent waits for the hello/welcome exchange before giving up on a connection. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * An HTTP visitor connection idle between requests this long is closed by the edge: nginx's
 * keepalive_timeout, a quarter of the old 5 minutes, and above the 15–60 s heartbeats of
 * event streams (whose pauses look the same from the edge, which does not parse answers).
 */
export const DEFAULT_KEEP_ALIVE_IDLE_MS = 75_000;
/** An HTTP visitor connection idle this long (no byte either way) is closed, by the edge and by a share. */
export const HTTP_VISITOR_IDLE_MS = 5 * 60_000;
