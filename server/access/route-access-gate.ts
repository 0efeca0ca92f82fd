import {
  IpRules,
  RouteAccessWire,
  UdnsError,
  authorizationDigest,
  decodeBasicAuthorization,
  matchesBasicAuthHash,
  type BasicAuthUserWire,
} from '../../protocol/index.js';
import type { BasicAuthThrottle } from './basic-auth-throttle.js';

/** Accepted Authorization values remembered per route (by SHA-256), so a visitor costs one hash, not one scrypt. */
const ACCEPTED_CACHE_SIZE = 256;

/** The edge's answer to one visitor's credentials. */
export type BasicAuthVerdict =
  | { kind: 'ok' }
  /** No (usable) credentials: 401, nothing counted (a browser's first request never has any). */
  | { kind: 'absent' }
  /** Wrong credentials: 401, counted against the visitor's network. */
  | { kind: 'wrong' }
  /** Over the wrong-password budget: 429 with Retry-After. */
  | { kind: 'throttled'; retryAfterSeconds: number };

/**
 * One route's access rules at the edge (`RegisterRoute.access`): its IP rules, and its Basic
 * users as salted scrypt hashes. A right password is scrypt-checked once, then its
 * Authorization value's SHA-256 is remembered (ACCEPTED_CACHE_SIZE, oldest first out): the
 * same credentials on every later connection cost one SHA-256. Never logs credentials.
 */
export class RouteAccessGate {
  readonly ip: IpRules;
  readonly users: readonly BasicAuthUserWire[];
  private readonly accepted = new Map<string, true>();

  private constructor(access: RouteAccessWire, private readonly throttle: BasicAuthThrottle) {
    this.ip = new IpRules(access.allowIp, access.denyIp);
    this.users = access.basicAuth?.users ?? [];
  }

  /**
   * The gate of a RegisterRoute's `access`, or null when it has no rules.
   * @throws UdnsError `route_invalid` for a malformed network, or Basic users on a tcp route
   */
  static of(access: RouteAccessWire | undefined, kind: 'http' | 'tcp', throttle: BasicAuthThrottle): RouteAccessGate | null {
    if (access === undefined) return null;
    let gate: RouteAccessGate;
    try {
      gate = new RouteAccessGate(RouteAccessWire.parse(access), throttle);
    } catch (error) {
      throw new UdnsError('route_invalid', `access rules refused: ${(error as Error).message}`);
    }
    if (kind === 'tcp' && gate.users.length > 0) throw new UdnsError('route_invalid', 'Basic auth needs an http route');
    return gate.ip.empty && gate.users.length === 0 ? null : gate;
  }

  /** True when the route asks for Basic credentials. */
  get basicAuth(): boolean {
    return this.users.length > 0;
  }

  /**
   * Checks the Authorization values of a request head (all of them: more than one is refused)
   * from a visitor at `address`.
   */
  checkBasic(authorization: readonly string[], address: string): BasicAuthVerdict {
    if (this.users.length === 0) return { kind: 'ok' };
    if (authorization.length !== 1) return { kind: 'absent' };
    const value = authorization[0]!;
    const verdict = this.throttle.verdict(address);
    if (verdict.kind === 'throttled') return verdict;
    const digest = authorizationDigest(value);
    if (this.accepted.has(digest)) {
      this.accepted.delete(digest);
      this.accepted.set(digest, true);
      return { kind: 'ok' };
    }
    const credentials = decodeBasicAuthorization(value);
    if (credentials === null) return { kind: 'absent' };
    if (verdict.kind === 'cached-only') return { kind: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds };
    const user = this.users.find((candidate) => candidate.user === credentials.user);
    // An unknown user costs the same scrypt as a known one: the time tells nothing.
    const right = matchesBasicAuthHash(credentials.password, user ?? this.users[0]!) && user !== undefined;
    if (!right) {
      this.throttle.recordFailure(address);
      return { kind: 'wrong' };
    }
    this.accepted.set(digest, true);
    if (this.accepted.size > ACCEPTED_CACHE_SIZE) this.accepted.delete(this.accepted.keys().next().value!);
    return { kind: 'ok' };
  }
}
