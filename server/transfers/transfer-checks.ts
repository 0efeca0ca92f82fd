import { randomBytes } from 'node:crypto';
import { UdnsError, plainAddress, type OfferTransfer, type ProbeFailure } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import { probeProof } from '../tunnel/reachability-probe.js';
import type { TunnelSession } from '../tunnel/tunnel-session.js';

/** Records a listed share's reachability (SearchIndex.setReachable), when the edge has an index. */
export type ReachabilitySink = (label: string, reachable: boolean | null) => void | Promise<void>;

/** One agent's transfer port, as the edge probes it (one probe per tunnel, whatever its shares). */
interface TransferPort {
  readonly tunnel: TunnelSession;
  readonly address: string;
  port: number;
  key: string;
  reachable: boolean | null;
  reason: ProbeFailure | undefined;
  checking: boolean;
  /** The probe in flight, if any. */
  probe: Promise<void> | null;
  /** Share route id → its name. */
  readonly routes: Map<string, string>;
}

/** What the ticket office needs to know about a share route's agent. */
export interface SharerPort {
  readonly tunnel: TunnelSession;
  readonly address: string;
  readonly port: number;
  readonly reachable: boolean | null;
}

/**
 * The sharers' half of the reachability check: each agent offers its transfer port for its
 * share routes (`offerTransfer`), and the edge probes it from outside as it probes direct-mode
 * routes, again every `recheckMs`, telling the agent (`transferChecked`) and the members' index
 * (`setReachable` of every share of that agent) whenever the outcome changes.
 */
export class TransferChecks {
  private readonly ports = new Map<TunnelSession, TransferPort>();
  private readonly byRoute = new Map<string, TransferPort>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly logger: Logger, recheckMs: number, private readonly sink: ReachabilitySink | null = null) {
    this.timer = setInterval(() => {
      for (const port of this.ports.values()) void this.check(port);
    }, recheckMs);
    this.timer.unref();
  }

  /**
   * A share route's offer. An agent has one transfer port and one key per tunnel: an offer
   * naming others would have the edge probe again on every message.
   * @throws UdnsError `protocol_violation` for a second port or key on one tunnel
   */
  offer(tunnel: TunnelSession, label: string, message: OfferTransfer): void {
    let entry = this.ports.get(tunnel);
    if (entry !== undefined && (entry.port !== message.port || entry.key !== message.key)) {
      throw new UdnsError('protocol_violation', 'offerTransfer: one transfer port and key per tunnel');
    }
    if (entry === undefined) {
      entry = {
        tunnel, address: plainAddress(tunnel.remoteAddress), port: message.port, key: message.key,
        reachable: null, reason: undefined, checking: false, probe: null, routes: new Map(),
      };
      this.ports.set(tunnel, entry);
    }
    entry.routes.set(message.routeId, label);
    this.byRoute.set(message.routeId, entry);
    if (entry.reachable === null) void this.check(entry);
    else this.record(label, entry.reachable);
  }

  /** The transfer port serving a share route, if its agent offered one. */
  sharerOf(routeId: string): SharerPort | undefined {
    const entry = this.byRoute.get(routeId);
    return entry && entry.tunnel.alive ? entry : undefined;
  }

  /**
   * As {@link sharerOf}, after the first probe of a fresh offer has finished (at most
   * DIRECT_CHECK_TIMEOUT_MS): a receiver asking right after the share started gets its answer.
   */
  async settled(routeId: string): Promise<SharerPort | undefined> {
    const entry = this.byRoute.get(routeId);
    if (entry?.reachable === null && entry.probe !== null) await entry.probe;
    return this.sharerOf(routeId);
  }

  withdraw(routeId: string): void {
    const entry = this.byRoute.get(routeId);
    if (!entry) return;
    this.byRoute.delete(routeId);
    entry.routes.delete(routeId);
  }

  tunnelClosed(tunnel: TunnelSession): void {
    const entry = this.ports.get(tunnel);
    if (!entry) return;
    this.ports.delete(tunnel);
    for (const routeId of entry.routes.keys()) this.byRoute.delete(routeId);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private check(entry: TransferPort): Promise<void> {
    if (entry.checking) return entry.probe ?? Promise.resolve();
    entry.checking = true;
    entry.probe = this.probe(entry).finally(() => { entry.probe = null; });
    return entry.probe;
  }

  private async probe(entry: TransferPort): Promise<void> {
    const { port, key } = entry;
    const startedAt = Date.now();
    let failure: ProbeFailure | null;
    try {
      failure = await probeProof(entry.address, port, randomBytes(16).toString('hex'), key);
    } finally {
      entry.checking = false;
    }
    if (this.ports.get(entry.tunnel) !== entry || !entry.tunnel.alive || entry.port !== port || entry.key !== key) return;
    const reachable = failure === null;
    // When it started tells which firewall it saw: an outcome can land seconds after a change.
    entry.tunnel.logger.debug({ port, reachable, startedAt }, 'transfer port probed');
    // Every outcome goes to the index, not only changes: a share listed after the last change
    // (listShare comes after the offer) gets its mark at the next check at the latest.
    for (const label of entry.routes.values()) this.record(label, reachable);
    if (entry.reachable === reachable && entry.reason === (failure ?? undefined)) return;
    entry.reachable = reachable;
    entry.reason = failure ?? undefined;
    entry.tunnel.logger.info({ address: entry.address, port, reachable, reason: failure }, 'transfer port check changed');
    entry.tunnel.sendTransfer({ type: 'transferChecked', reachable, address: entry.address, port, ...(failure ? { reason: failure } : {}) });
  }

  private record(label: string, reachable: boolean | null): void {
    if (this.sink === null) return;
    // The index is a convenience for search results: a database hiccup must not stop transfers.
    Promise.resolve().then(() => this.sink!(label, reachable)).catch((error: unknown) => {
      this.logger.warn({ err: error, name: label }, 'could not record a share\'s reachability');
    });
  }
}
