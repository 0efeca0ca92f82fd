import { randomBytes } from 'node:crypto';
import { UdnsError, randomName, validateName, type RegisterRoute, type RouteKind } from '../../protocol/index.js';
import { privateRouteAddress } from '../../protocol/private-route.js';
import type { Logger } from '../logger.js';
import type { RegistrationResult, TunnelSession } from '../tunnel/tunnel-session.js';

/** A live private route: members named in `allowed` (and its owner) reach it by `name`. */
export interface PrivateRouteEntry {
  readonly name: string;
  readonly kind: RouteKind;
  readonly tunnel: TunnelSession;
  readonly routeId: string;
  /** Member account names allowed besides the owner. */
  readonly allowed: ReadonlySet<string>;
}

/** Who owns a claimed public name (AccountStore.nameOwner): a private name may not impersonate it. */
export type NameOwnerLookup = (label: string) => Promise<number | null>;

const RANDOM_NAME_ATTEMPTS = 8;

/**
 * The private routes of this edge's tunnels, by name. They live in their own namespace, in memory
 * only, like the routes themselves: nothing is claimed in the database and nothing enters DNS
 * (no answer points anyone at a private route). A name some other account owns in the zone is
 * refused, so `udns connect shop` never reaches someone posing as the owner of `shop`; one held
 * by another account's live private route is taken; the same account's newer tunnel takes its
 * own name over (a reconnect after a network change), as for http routes.
 */
export class PrivateRoutes {
  private readonly byName = new Map<string, PrivateRouteEntry>();
  private readonly byRouteId = new Map<string, PrivateRouteEntry>();

  constructor(private readonly nameOwner: NameOwnerLookup, private readonly logger: Logger) {}

  /** Registers a private route (`request.private` set); throws a UdnsError when it cannot be. */
  async register(tunnel: TunnelSession, request: RegisterRoute): Promise<RegistrationResult & { ok: true }> {
    const access = request.private;
    if (access === undefined) throw new UdnsError('route_invalid', 'not a private route');
    const name = request.name === undefined ? await this.freeRandomName(tunnel) : await this.checkName(tunnel, validateName(request.name));
    if (!tunnel.alive) throw new UdnsError('internal', 'tunnel closed during registration');
    const previous = this.byName.get(name);
    if (previous !== undefined && previous.tunnel.alive) {
      if (previous.tunnel.account.id !== tunnel.account.id) throw new UdnsError('name_taken', `the private name "${name}" is in use by another account: pass another --name`);
      if (previous.tunnel === tunnel) throw new UdnsError('route_invalid', `this tunnel already serves the private route "${name}"`);
      this.forget(previous);
      previous.tunnel.closeRoute(previous.routeId, new UdnsError('replaced', `the private route "${name}" is now served by another connection of this account`));
      this.logger.info({ name, oldTunnel: previous.tunnel.id, newTunnel: tunnel.id }, 'private route moved to a newer tunnel');
    }
    const entry: PrivateRouteEntry = {
      name, kind: request.kind, tunnel, routeId: randomBytes(8).toString('hex'),
      allowed: new Set(access.allowMembers.map((member) => member.toLowerCase())),
    };
    this.byName.set(name, entry);
    this.byRouteId.set(entry.routeId, entry);
    return { ok: true, routeId: entry.routeId, kind: entry.kind, name, url: privateRouteAddress(name) };
  }

  /**
   * The live private route `name` when `member` may use it; undefined when it is unknown, offline
   * or not shared with `member` (one answer for all three: private names do not leak).
   */
  lookup(name: string, member: string): PrivateRouteEntry | undefined {
    const entry = this.byName.get(name.toLowerCase());
    if (entry === undefined || !entry.tunnel.alive) return undefined;
    return entry.tunnel.account.name === member || entry.allowed.has(member) ? entry : undefined;
  }

  /** True when `routeId` is one of ours (the registry then leaves it alone). */
  has(routeId: string): boolean {
    return this.byRouteId.has(routeId);
  }

  unregister(routeId: string): void {
    const entry = this.byRouteId.get(routeId);
    if (entry !== undefined) this.forget(entry);
  }

  tunnelClosed(tunnel: TunnelSession): void {
    for (const entry of [...this.byRouteId.values()]) if (entry.tunnel === tunnel) this.forget(entry);
  }

  private forget(entry: PrivateRouteEntry): void {
    this.byRouteId.delete(entry.routeId);
    if (this.byName.get(entry.name) === entry) this.byName.delete(entry.name);
  }

  private async checkName(tunnel: TunnelSession, name: string): Promise<string> {
    const owner = await this.nameOwner(name);
    if (owner !== null && owner !== tunnel.account.id) throw new UdnsError('name_taken', `the name "${name}" belongs to another account: pass another --name`);
    return name;
  }

  private async freeRandomName(tunnel: TunnelSession): Promise<string> {
    for (let attempt = 0; attempt < RANDOM_NAME_ATTEMPTS; attempt++) {
      const name = randomName();
      if (this.byName.get(name)?.tunnel.alive) continue;
      if ((await this.nameOwner(name)) === null) return name;
    }
    throw new UdnsError('internal', 'could not find a free random name, pass --name');
  }
}
