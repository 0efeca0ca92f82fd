import http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  DIRECT_CHECK_PATH,
  DIRECT_CHECK_TIMEOUT_MS,
  isDirectProof,
  plainAddress,
  type DirectFailure,
} from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import type { TunnelSession } from './tunnel-session.js';

/** Largest check answer read: a hex HMAC and some slack. */
const MAX_PROOF_BYTES = 1024;

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


/** Asks `address:port` for the proof of `nonce`; null when it gave the right one. */
function probe(address: string, port: number, nonce: string, key: string): Promise<DirectFailure | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: DirectFailure | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = http.get({ host: address, port, path: `${DIRECT_CHECK_PATH}${nonce}`, agent: false, headers: { connection: 'close' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        done('wrong answer');
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_PROOF_BYTES) done('wrong answer');
      });
      res.on('end', () => done(isDirectProof(key, nonce, body) ? null : 'wrong answer'));
      res.on('error', () => done('wrong answer'));
    });
    // Whatever answers may be no HTTP server at all: anything but the proof is a wrong answer.
    req.on('error', (error: NodeJS.ErrnoException) => {
      done(error.code === 'ECONNREFUSED' ? 'refused'
        : error.code === 'ETIMEDOUT' ? 'timeout'
          : error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH' ? 'unreachable' : 'wrong answer');
    });
    const timer = setTimeout(() => done('timeout'), DIRECT_CHECK_TIMEOUT_MS);
  });
}
