import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import {
  IpRules,
  checkRouteAccessSpec,
  decodeBasicAuthorization,
  plainAddress,
  routeAccessWire,
  type RouteAccessSpec,
  type RouteAccessWire,
  type VisitorInfo,
} from '../../protocol/index.js';
import { PasswordThrottle } from '../share/password-throttle.js';

/** Accepted Authorization values remembered per route, so a kept-alive connection's requests cost a Map look-up. */
const ACCEPTED_CACHE_SIZE = 64;

/** A refused request, as the visitor should see it (RequestHeadRewriter's `authorize` hook). */
export interface AccessRefusal {
  status: 401 | 403 | 429;
  reason: string;
  title: string;
  headers: Record<string, string | number>;
}

/** What the guard reads of one request head. */
export interface HeadCredentials {
  /** Every Authorization value of the head, trimmed. */
  authorization: readonly string[];
  /** Every X-Forwarded-For value (used only when the edge marked a trusted proxy). */
  forwardedFor: readonly string[];
}

/**
 * One route's access rules at the agent (`--basic-auth`, `--allow-ip`, `--deny-ip`): checked
 * again on EVERY request head of a connection (the edge checks a connection's first one), so a
 * visitor cannot send one authorised request and then anything else, and a direct-mode visitor
 * (who never passes the edge) meets the same rules. Passwords are compared by SHA-256 in
 * constant time; a wrong one counts against the visitor's network (5 a minute, as shares).
 */
export class RouteGuard {
  readonly ip: IpRules;
  /** The wire form for RegisterRoute: networks, and each password as salted scrypt. */
  readonly wire: RouteAccessWire | undefined;
  /** Realm of the 401s: the route's name once published. */
  realm = 'udns';
  private readonly users: ReadonlyMap<string, Buffer>;
  private readonly accepted = new Set<string>();
  private readonly throttle = new PasswordThrottle();

  /** @throws UdnsError `config_invalid` (one line, every problem) */
  constructor(spec: RouteAccessSpec, kind: 'http' | 'tcp') {
    checkRouteAccessSpec(spec, kind);
    this.ip = new IpRules(spec.allowIp, spec.denyIp);
    this.users = new Map((spec.basicAuth ?? []).map(({ user, password }) => [user, sha256(password)]));
    this.wire = routeAccessWire(spec);
  }

  /** A guard for `spec`, or null when it sets no rule (nothing installed, nothing paid). */
  static of(spec: RouteAccessSpec | undefined, kind: 'http' | 'tcp'): RouteGuard | null {
    if (spec === undefined) return null;
    const guard = new RouteGuard(spec, kind);
    return guard.wire === undefined ? null : guard;
  }

  /** True when the route asks for Basic credentials: the Authorization header is then ours, and stripped. */
  get basicAuth(): boolean {
    return this.users.size > 0;
  }

  /** The client of a connection or request: the edge's visitor, or the trusted proxy's last X-Forwarded-For entry. */
  clientOf(visitor: VisitorInfo, forwardedFor: readonly string[]): string {
    if (visitor.forwardedTrusted && forwardedFor.length > 0) {
      const last = plainAddress(forwardedFor.join(',').split(',').at(-1)!.trim());
      if (isIP(last) !== 0) return last;
    }
    return plainAddress(visitor.remoteAddress);
  }

  /**
   * The check of every request head of one connection. Without a trusted proxy the client is
   * the connection's peer for its whole life: its IP verdict is worked out once.
   */
  forConnection(visitor: VisitorInfo): (head: HeadCredentials) => AccessRefusal | null {
    if (visitor.forwardedTrusted) return (head) => this.check(visitor, head);
    const client = plainAddress(visitor.remoteAddress);
    const ipAllowed = this.ip.allows(client);
    return (head) => this.checkClient(client, ipAllowed, head);
  }

  /** Checks one request head; null when it may go to the origin. */
  check(visitor: VisitorInfo, head: HeadCredentials): AccessRefusal | null {
    const client = this.clientOf(visitor, head.forwardedFor);
    return this.checkClient(client, this.ip.allows(client), head);
  }

  private checkClient(client: string, ipAllowed: boolean, head: HeadCredentials): AccessRefusal | null {
    if (!ipAllowed) {
      return { status: 403, title: 'Forbidden', reason: 'visitors from this network may not open this route', headers: {} };
    }
    if (this.users.size === 0) return null;
    const value = head.authorization.length === 1 ? head.authorization[0]! : null;
    if (value !== null && this.accepted.has(value)) return null;
    const retryAfter = this.throttle.retryAfterSeconds(client);
    if (retryAfter > 0 && value !== null) {
      return { status: 429, title: 'Too many attempts', reason: `too many wrong passwords; try again in ${retryAfter} s`, headers: { 'Retry-After': retryAfter } };
    }
    const credentials = value === null ? null : decodeBasicAuthorization(value);
    if (credentials !== null) {
      const expected = this.users.get(credentials.user);
      const right = timingSafeEqual(sha256(credentials.password), expected ?? ZERO_DIGEST) && expected !== undefined;
      if (right) {
        this.accepted.add(value!);
        if (this.accepted.size > ACCEPTED_CACHE_SIZE) this.accepted.delete(this.accepted.values().next().value!);
        return null;
      }
      this.throttle.recordFailure(client);
    }
    return {
      status: 401,
      title: 'Sign in required',
      reason: credentials === null ? 'this route asks for a user name and password' : 'wrong user name or password',
      headers: { 'WWW-Authenticate': `Basic realm="${this.realm}", charset="UTF-8"` },
    };
  }
}

const ZERO_DIGEST = Buffer.alloc(32);

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
