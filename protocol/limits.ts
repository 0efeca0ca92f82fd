/** Largest control message, in bytes of its JSON line. Bigger lines end the tunnel. */
export const MAX_CONTROL_FRAME_BYTES = 64 * 1024;

/** Both ends send an HTTP/2 PING this often… */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** …and tear the tunnel down if it is not acknowledged within this long (dead in ≤ 20 s). */
export const HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * Per-stream flow-control window. It bounds what one stalled visitor costs the edge in memory
 * and sets single-stream throughput on long round trips (1 MiB moves ~23 MB/s at 40 ms RTT).
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
/** Connection-level window, shared by every stream of a tunnel. */
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** Concurrent streams one tunnel may carry; more are refused, not queued forever. */
export const MAX_STREAMS_PER_TUNNEL = 1000;
/** Of those, visitor streams (one stays free for the control stream). */
export const MAX_VISITOR_STREAMS_PER_TUNNEL = MAX_STREAMS_PER_TUNNEL - 1;
/**
 * Visitor connections one client network (an IPv4 address, an IPv6 /64) may hold on one
 * tunnel by default: a quarter of it, so that it takes four networks keeping requests busy to
 * fill a name, while an office behind one NAT address still gets 250 at once. Idle keep-alive
 * connections do not count against newcomers: they are closed to make room.
 */
export const DEFAULT_VISITOR_STREAMS_PER_NETWORK = Math.floor(MAX_VISITOR_STREAMS_PER_TUNNEL / 4);
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
