import { randomBytes } from 'node:crypto';
import { plainAddress, type DirectFailure } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import { probeProof as probe } from './reachability-probe.js';
import type { TunnelSession } from './tunnel-session.js';

/** One route in direct mode, as the edge tracks it. */
interface DirectRoute {
  readonly tunnel: TunnelSession;
  readonly routeId: string;
  readonly label: string;
  readonly port: number;
  readonly key: string;
  readonly address: string;
  reachable: boolean | null;
  reason: DirectFailure | undefined;
  checking: boolean;
}

/**
 * The edge's half of direct mode: checks that each offering agent answers on its observed
 * address and port with the proof only it can give, and points the route's name there in DNS
 * (NameDirectory.setDirectAddress) while it does, back at the edge as soon as a check fails.
 */
export class DirectChecks {
  private readonly routes = new Map<string, DirectRoute>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly directory: NameDirectory, private readonly logger: Logger, recheckMs: number) {
    this.timer = setInterval(() => {
      for (const route of this.routes.values()) void this.check(route);
    }, recheckMs);
    this.timer.unref();
  }

  /** Starts (or restarts, with a new port or key) direct mode for an http route. */
  offer(tunnel: TunnelSession, routeId: string, label: string, port: number, key: string): void {
    this.withdraw(routeId);
    const route: DirectRoute = {
      tunnel, routeId, label, port, key, address: plainAddress(tunnel.remoteAddress),
      reachable: null, reason: undefined, checking: false,
    };
    this.routes.set(routeId, route);
    void this.check(route);
  }

  /** Ends direct mode for a route (it closed, its tunnel went, its name moved). */
  withdraw(routeId: string): void {
    const route = this.routes.get(routeId);
    if (!route) return;
    this.routes.delete(routeId);
    this.directory.clearDirectAddress(route.label, routeId);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async check(route: DirectRoute): Promise<void> {
    if (route.checking) return;
    route.checking = true;
    const nonce = randomBytes(16).toString('hex');
    let failure: DirectFailure | null;
    try {
      failure = await probe(route.address, route.port, nonce, route.key);
    } finally {
      route.checking = false;
    }
    if (this.routes.get(route.routeId) !== route || !route.tunnel.alive) return;
    const reachable = failure === null;
    if (reachable) this.directory.setDirectAddress(route.label, route.routeId, route.address);
    else this.directory.clearDirectAddress(route.label, route.routeId);
    if (route.reachable === reachable && route.reason === (failure ?? undefined)) return;
    route.reachable = reachable;
    route.reason = failure ?? undefined;
    route.tunnel.logger.info({ routeId: route.routeId, name: route.label, address: route.address, port: route.port, reachable, reason: failure }, 'direct check changed');
    route.tunnel.reportDirect(route.routeId, { reachable, address: route.address, port: route.port, ...(failure ? { reason: failure } : {}) });
  }
}
