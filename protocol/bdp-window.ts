import type http2 from 'node:http2';

/*
 * Flow-control windows that follow the bandwidth-delay product, the way grpc-go's and hyper's
 * BDP estimators do. A fixed stream window W caps one stream at W per round trip (1 MiB over
 * 40 ms: ~25 MB/s); a window sized for the longest link would let every stalled visitor cost
 * the edge that much memory on every link. So each end measures what it receives: it sends a
 * PING, counts the bytes that arrive until the ACK (one round trip's worth), and when that
 * count reaches 2/3 of the current window (the window, not the link, was the limit), it sets
 * the window to twice the count, up to a ceiling. The window only grows, per tunnel.
 */

/** Bytes of a sample, relative to the window, that show the window (not the link) was the limit. */
const GROW_THRESHOLD = 2 / 3;
/** A grown window is this many times the sample that triggered it (grpc-go's gamma). */
const GROW_FACTOR = 2;
/** Weight of a new round-trip sample once ten have been averaged (grpc-go's alpha). */
const RTT_WEIGHT = 0.9;

/**
 * The estimator, without timers or sockets: fed one sample per BDP ping (bytes received
 * between the PING and its ACK, and the round trip), it says when the window should grow.
 */
export class BdpEstimator {
  /** The stream window now advertised. */
  window: number;
  private rttMs = 0;
  private samples = 0;
  private bestBytesPerMs = 0;

  constructor(initialWindow: number, readonly maxWindow: number) {
    this.window = initialWindow;
  }

  /** True once the window is at its ceiling: nothing left to measure. */
  get saturated(): boolean {
    return this.window >= this.maxWindow;
  }

  /**
   * Records one ping's sample; returns the new window when it should grow, else undefined.
   * `limit`: what the window may grow to now (the memory budget's share, under maxWindow).
   */
  sample(bytes: number, rttMs: number, limit = this.maxWindow): number | undefined {
    this.samples += 1;
    // The first ten round trips are averaged plainly, later ones weigh in heavily (grpc-go).
    this.rttMs += (rttMs - this.rttMs) * (this.samples <= 10 ? 1 / this.samples : RTT_WEIGHT);
    // The sample holds at most ~1.5 round trips of data on a saturated link.
    const bytesPerMs = bytes / (Math.max(this.rttMs, 0.01) * 1.5);
    if (bytesPerMs > this.bestBytesPerMs) this.bestBytesPerMs = bytesPerMs;
    // Grow only while the bandwidth grows too: a bigger window that only fills a queue
    // (a longer measured round trip, the same rate) is not a reason to grow again.
    if (this.saturated || bytes < this.window * GROW_THRESHOLD || bytesPerMs < this.bestBytesPerMs) return undefined;
    const grown = Math.min(this.maxWindow, limit, Math.ceil(bytes * GROW_FACTOR));
    if (grown <= this.window) return undefined;
    this.window = grown;
    return this.window;
  }

  /** Lowers the window to `limit` when it is above it; returns the new window, else undefined. */
  lower(limit: number): number | undefined {
    if (this.window <= limit) return undefined;
    this.window = limit;
    return this.window;
  }
}

/**
 * The stream window a tunnel can give each of `openStreams` streams when their windows together
 * may promise `budget` bytes: an equal share, never under `floor` (the initial window: a stream
 * always gets what it started with).
 */
export function windowShare(budget: number, openStreams: number, floor: number): number {
  return Math.max(floor, Math.floor(budget / Math.max(1, openStreams)));
}

/** How the tuner reaches the session; tests and mux-session.ts pass the real one. */
export interface WindowTuning {
  /** Window every stream starts with (the initial SETTINGS_INITIAL_WINDOW_SIZE). */
  initialWindow: number;
  /** Ceiling of the stream window: what one stalled stream can make this end buffer. */
  maxWindow: number;
  /** Connection window for a given stream window. */
  connectionWindowFor(streamWindow: number): number;
  /** Bytes received on the tunnel's transport so far (monotonic). */
  bytesReceived(): number;
  /**
   * What the stream windows of this end may add up to (the tunnel's memory budget for stalled
   * streams): a grown window is capped at its share (windowShare), and lowered again when more
   * streams open.
   */
  windowBudget: number;
  /** Streams open on the session now. */
  openStreams(): number;
}

/** Polling interval while the tunnel is quiet: how soon a new transfer starts being measured. */
export const BDP_IDLE_POLL_MS = 200;
/** Pause between BDP pings while data flows: bounds their cost on a fast local link. */
export const BDP_ROUND_SPACING_MS = 10;
/** Bytes that must arrive between two polls (or during a ping) for the tunnel to count as busy. */
const BUSY_BYTES = 64 * 1024;

/**
 * Quiet tunnels, checked together by one interval: an edge with a thousand idle agents pays a
 * counter read per tunnel per poll, not a thousand timers.
 */
const quiet = new Set<() => void>();
let quietTimer: NodeJS.Timeout | undefined;

function watchQuiet(poll: () => void): void {
  quiet.add(poll);
  if (quietTimer) return;
  quietTimer = setInterval(() => {
    for (const each of quiet) each();
    if (quiet.size === 0 && quietTimer) {
      clearInterval(quietTimer);
      quietTimer = undefined;
    }
  }, BDP_IDLE_POLL_MS);
  quietTimer.unref();
}

/** The tuner of one session: its estimator, for tests and diagnostics. */
export interface WindowTuner {
  readonly estimator: BdpEstimator;
  /** Stops measuring (the session closed). */
  stop(): void;
}

/**
 * Measures the bandwidth-delay product of `session`'s receiving direction with PINGs while
 * data arrives, and grows the stream window (a SETTINGS frame: it applies to every stream,
 * open and future, since node:http2 has no per-stream window API) and the connection window
 * with it, up to each stream's share of the window budget; more streams opening lower it
 * again (checked at every ping and every {@link BDP_IDLE_POLL_MS}). A quiet tunnel costs two
 * counter reads every {@link BDP_IDLE_POLL_MS}; at the ceiling it measures no more.
 */
export function tuneWindows(session: http2.Http2Session, tuning: WindowTuning): WindowTuner {
  const estimator = new BdpEstimator(tuning.initialWindow, tuning.maxWindow);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let seen = tuning.bytesReceived();

  const stop = (): void => {
    stopped = true;
    quiet.delete(poll);
    if (timer) clearTimeout(timer);
    timer = undefined;
  };

  const share = (): number => windowShare(tuning.windowBudget, tuning.openStreams(), tuning.initialWindow);

  // More streams than the grown window leaves room for: every stream's window comes down to
  // its share (HTTP/2 lets a lower SETTINGS_INITIAL_WINDOW_SIZE take open streams' windows
  // below zero; the peer then waits until they are read down).
  const keepWithinBudget = (): void => {
    if (session.destroyed || session.pendingSettingsAck) return;
    const lowered = estimator.lower(share());
    if (lowered !== undefined) session.settings({ initialWindowSize: lowered });
  };

  // Quiet: on each shared tick, keep within the budget, and start measuring once data arrives.
  function poll(): void {
    keepWithinBudget();
    const now = tuning.bytesReceived();
    const busy = now - seen >= BUSY_BYTES;
    seen = now;
    if (!busy || estimator.saturated) return;
    quiet.delete(poll);
    measure();
  }

  const rest = (): void => {
    if (!stopped) watchQuiet(poll);
  };

  // Busy: one PING at a time, the next one shortly after each ACK while data keeps coming.
  const measure = (): void => {
    timer = undefined;
    if (stopped || session.destroyed || session.closed) return stop();
    const before = tuning.bytesReceived();
    const sent = session.ping((error, durationMs) => {
      if (stopped) return;
      if (error) return stop();
      seen = tuning.bytesReceived();
      const bytes = seen - before;
      // Until the peer has acknowledged the last window change, measure nothing new: a peer
      // that never acknowledges must not make us queue SETTINGS (node:http2 throws past 10).
      const grown = session.pendingSettingsAck ? undefined : estimator.sample(bytes, durationMs, share());
      if (grown !== undefined && !session.destroyed) {
        session.settings({ initialWindowSize: grown });
        session.setLocalWindowSize(tuning.connectionWindowFor(grown));
      }
      keepWithinBudget();
      // At the ceiling nothing is left to measure; the quiet tick still keeps the budget.
      if (estimator.saturated || bytes < BUSY_BYTES) return rest();
      timer = setTimeout(measure, BDP_ROUND_SPACING_MS);
      timer.unref();
    });
    // Too many pings outstanding (heartbeats): try again later.
    if (!sent) rest();
  };

  rest();
  session.once('close', stop);
  return { estimator, stop };
}
