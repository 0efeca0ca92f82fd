import { HTTP_VISITOR_IDLE_MS, networkOf, visitorStreamsPerNetwork } from '../../protocol/index.js';

/** How many visitor connections one tunnel carries, how many of them one client network may hold, and for how long they may idle. */
export interface VisitorSlotLimits {
  readonly perTunnel: number;
  readonly perNetwork: number;
  /** An HTTP connection idle between requests (answered, then silent) this long is closed. */
  readonly keepAliveIdleMs: number;
}

/** What a visitor connection carries, which decides how it may idle and whether it can make room for others. */
export type VisitorKind =
  /** HTTP/1.x requests and answers: idle between requests, reclaimable. */
  | 'http'
  /** An HTTP connection that asked to switch protocols (WebSocket): never reclaimed. */
  | 'upgrade'
  /** Raw TCP: never reclaimed, no silence limit (an SSH session may idle for hours). */
  | 'tcp';

/**
 * A kept-alive connection must have been quiet this long before a newcomer may take its place:
 * long enough that a client between two quick requests is not cut, short enough that a page
 * load is never refused while idle connections sit around.
 */
export const RECLAIM_MIN_IDLE_MS = 2_000;
/** Any HTTP connection (upgraded ones too) silent both ways this long is closed, answered or not. */
export const HTTP_MAX_SILENCE_MS = HTTP_VISITOR_IDLE_MS;

/** One visitor connection's place in its tunnel's limits. */
export interface VisitorSlot {
  /** Client network the slot counts against. */
  readonly network: string;
  /** Records traffic: `toVisitor` true for bytes the agent sent to the visitor. */
  touch(toVisitor: boolean): void;
  /** Frees the slot; safe to call more than once. */
  release(): void;
}

interface Holder {
  readonly network: string;
  lastActivityMs: number;
  /** The last bytes went to the visitor: the answer is out, the client is between requests. */
  answered: boolean;
  readonly kind: VisitorKind;
  /** Closes the visitor's connection to make room; set by whoever bridges it. */
  readonly reclaim: () => void;
}

/**
 * The visitor limits of one tunnel, counted per client network (an IPv4 address or an IPv6
 * /64, see networkOf) rather than per address string, so that one host cannot multiply its
 * share. When a limit is reached, an HTTP connection that is idle between requests (its last
 * bytes went to the visitor, none since RECLAIM_MIN_IDLE_MS) is closed to make room, the
 * longest idle first: of the newcomer's own network when that network is at its limit, else of
 * the network holding the most. Only when nothing is idle is the newcomer refused. Without
 * this, three addresses holding idle keep-alive connections locked a name for everyone.
 */
export class VisitorSlots {
  private readonly holders = new Set<Holder>();
  /** The `http` ones, the only kind that can make room: a refused newcomer scans these, not every WebSocket. */
  private readonly httpHolders = new Set<Holder>();
  private readonly byNetwork = new Map<string, number>();

  constructor(
    private readonly limits: VisitorSlotLimits,
    private readonly now: () => number = Date.now,
    /**
     * Visitor streams the agent takes at most: its SETTINGS_MAX_CONCURRENT_STREAMS less the
     * control stream (1000 from an older agent, what its memory holds from a newer one). Past it
     * HTTP/2 would queue a stream until another closes: the visitor would hang, not get 503.
     */
    private readonly agentCeiling: () => number = () => Infinity,
  ) {}

  /**
   * The limits in force: the edge's, lowered to what the agent takes. When the agent takes fewer
   * than the edge allows, one network keeps its share of what the agent takes.
   */
  private current(): { perTunnel: number; perNetwork: number } {
    const ceiling = this.agentCeiling();
    if (!(ceiling < this.limits.perTunnel)) return this.limits;
    const perTunnel = Math.max(1, ceiling);
    return { perTunnel, perNetwork: Math.min(this.limits.perNetwork, visitorStreamsPerNetwork(perTunnel)) };
  }

  /** Connections held right now. */
  get size(): number {
    return this.holders.size;
  }

  /** Connections `network` (or the network of an address) holds right now. */
  heldBy(address: string): number {
    return this.byNetwork.get(networkOf(address)) ?? 0;
  }

  /**
   * A slot for a new visitor from `address`, making room by reclaiming an idle connection if
   * needed; null when every connection in the way is busy.
   */
  admit(address: string, options: { kind: VisitorKind; reclaim: () => void; viaTrustedProxy?: boolean }): VisitorSlot | null {
    const network = networkOf(address);
    const limits = this.current();
    // A trusted proxy (a CDN in front of the edge) carries many clients: only the tunnel's limit applies.
    if (!options.viaTrustedProxy && (this.byNetwork.get(network) ?? 0) >= limits.perNetwork && !this.reclaimFrom(network)) return null;
    if (this.holders.size >= limits.perTunnel && !this.reclaimFrom(null)) return null;
    const holder: Holder = { network, lastActivityMs: this.now(), answered: false, kind: options.kind, reclaim: options.reclaim };
    this.holders.add(holder);
    if (holder.kind === 'http') this.httpHolders.add(holder);
    this.byNetwork.set(network, (this.byNetwork.get(network) ?? 0) + 1);
    return {
      network,
      touch: (toVisitor) => {
        holder.lastActivityMs = this.now();
        holder.answered = toVisitor;
      },
      release: () => this.release(holder),
    };
  }

  /**
   * Closes the connections that idled too long: HTTP ones answered and silent for the
   * keep-alive time (the client is between requests and may open a new connection when it
   * needs one), and any non-TCP connection silent both ways for HTTP_MAX_SILENCE_MS. Called
   * every few seconds; returns how many it closed.
   */
  closeIdle(): number {
    const now = this.now();
    const expired: Holder[] = [];
    for (const holder of this.holders) {
      const silence = now - holder.lastActivityMs;
      if (holder.kind === 'tcp') continue;
      if ((holder.kind === 'http' && holder.answered && silence >= this.limits.keepAliveIdleMs) || silence >= HTTP_MAX_SILENCE_MS) expired.push(holder);
    }
    for (const holder of expired) {
      this.release(holder);
      holder.reclaim();
    }
    return expired.length;
  }

  private release(holder: Holder): void {
    if (!this.holders.delete(holder)) return;
    this.httpHolders.delete(holder);
    const left = (this.byNetwork.get(holder.network) ?? 1) - 1;
    if (left === 0) this.byNetwork.delete(holder.network);
    else this.byNetwork.set(holder.network, left);
  }

  /**
   * Closes the longest-idle reclaimable connection of `network`, or (null) of the network that
   * holds the most connections among those with one; false when there is none. One pass.
   */
  private reclaimFrom(network: string | null): boolean {
    const idleBefore = this.now() - RECLAIM_MIN_IDLE_MS;
    let best: Holder | undefined;
    let bestHeld = 0;
    for (const holder of this.httpHolders) {
      if (!holder.answered || holder.lastActivityMs > idleBefore) continue;
      if (network !== null && holder.network !== network) continue;
      const held = this.byNetwork.get(holder.network) ?? 0;
      if (!best || held > bestHeld || (held === bestHeld && holder.lastActivityMs < best.lastActivityMs)) {
        best = holder;
        bestHeld = held;
      }
    }
    if (!best) return false;
    this.release(best);
    best.reclaim();
    return true;
  }
}
