import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { z } from 'zod';
import { UdnsError } from './errors.js';
import { ipv4Bytes, ipv6Bytes } from './ip-bytes.js';

/*
 * Who may visit a route (`--basic-auth`, `--allow-ip`, `--deny-ip`): parsed and checked here,
 * for the CLI, the agent and the edge alike. The rules travel to the edge in RegisterRoute's
 * `access` (RouteAccessWire); the passwords never do, only a salted scrypt of each.
 */

/** CIDRs per list (`--allow-ip`, `--deny-ip`) a route may carry. */
export const MAX_ACCESS_NETWORKS = 64;
/** `--basic-auth` users per route. */
export const MAX_BASIC_AUTH_USERS = 16;
/** Longest user name and password accepted (bytes of UTF-8). */
export const MAX_CREDENTIAL_BYTES = 256;

/**
 * scrypt cost of the password hashes the edge gets: N=4096, r=8, p=1 (4 MiB, ~4-16 ms on the
 * small machines an edge runs on). The edge computes it once per credentials it has not seen
 * accepted before, and only within the wrong-password budget (server/access/).
 */
export const BASIC_AUTH_KDF = 'scrypt-4096-8-1';
const SCRYPT_OPTIONS = { N: 4096, r: 8, p: 1, maxmem: 32 * 1024 * 1024 } as const;

/** One `--basic-auth` user as the edge gets it: the name, and scrypt(password, salt). */
export const BasicAuthUserWire = z.object({
  user: z.string().min(1).max(MAX_CREDENTIAL_BYTES),
  /** Hex, 16 bytes, fresh per route. */
  salt: z.string().regex(/^[0-9a-f]{32}$/),
  /** Hex, 32 bytes of scrypt(password, salt) with BASIC_AUTH_KDF. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();
export type BasicAuthUserWire = z.infer<typeof BasicAuthUserWire>;

/**
 * A route's access rules in RegisterRoute. The shape is checked with the message; the
 * networks' meaning by `parseRouteAccessWire` at the edge, which refuses the route
 * (routeRefused `route_invalid`) rather than the tunnel when one is malformed.
 */
export const RouteAccessWire = z.object({
  /** Visitors must come from one of these networks (CIDR; an address alone is /32 or /128). Empty or absent: anyone. */
  allowIp: z.array(z.string().max(64)).max(MAX_ACCESS_NETWORKS).optional(),
  /** Visitors from these networks are refused, even when an allowIp network holds them. */
  denyIp: z.array(z.string().max(64)).max(MAX_ACCESS_NETWORKS).optional(),
  /** HTTP Basic users (http routes only). */
  basicAuth: z.object({
    kdf: z.literal(BASIC_AUTH_KDF),
    users: z.array(BasicAuthUserWire).min(1).max(MAX_BASIC_AUTH_USERS),
  }).strict().optional(),
}).strict();
export type RouteAccessWire = z.infer<typeof RouteAccessWire>;

/** One `--basic-auth user:password`, in clear (the agent's side only). */
export interface BasicAuthUser {
  user: string;
  password: string;
}

/** A route's access rules as the agent holds them (passwords in clear, never sent). */
export const RouteAccessSpec = z.object({
  basicAuth: z.array(z.object({ user: z.string(), password: z.string() }).strict()).max(MAX_BASIC_AUTH_USERS).optional(),
  allowIp: z.array(z.string()).max(MAX_ACCESS_NETWORKS).optional(),
  denyIp: z.array(z.string()).max(MAX_ACCESS_NETWORKS).optional(),
}).strict();
export type RouteAccessSpec = z.infer<typeof RouteAccessSpec>;

/** One network of an allow or deny list. */
export interface AccessNetwork {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * Reads `203.0.113.0/24`, `2001:db8::/32` or a single address (a /32 or /128).
 * @throws UdnsError `config_invalid` naming the value and the fix, in one line. Host bits set
 * (`192.168.1.10/2`) are refused rather than masked: such a typo would open far more than meant.
 */
export function parseAccessNetwork(text: string, flag = '--allow-ip'): AccessNetwork {
  const shown = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
  const parts = text.trim().split('/');
  const [address = '', bits] = parts as [string, string | undefined];
  const version = parts.length <= 2 ? net.isIP(address) : 0;
  if (version === 0) throw new UdnsError('config_invalid', `${flag} ${shown} is not an IP network: write an address or CIDR such as 203.0.113.0/24 or 2001:db8::/48`);
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) {
    throw new UdnsError('config_invalid', `${flag} ${shown}: the prefix length must be 0-${max} for an IPv${version} network`);
  }
  const prefix = bits === undefined ? max : Number(bits);
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const base = networkBase(address, prefix, family);
  if (base !== null) {
    throw new UdnsError('config_invalid', `${flag} ${shown} has bits set past the /${prefix}: write ${base}/${prefix} (or the prefix you meant)`);
  }
  return { address, prefix, family };
}

/**
 * One `--basic-auth user:password`. The user may not hold a colon (RFC 7617: the first colon
 * ends it); neither may be empty or hold control characters.
 * @throws UdnsError `config_invalid` in one line that never repeats the password
 */
export function parseBasicAuth(text: string): BasicAuthUser {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    throw new UdnsError('config_invalid', '--basic-auth takes user:password (both non-empty, the user without a colon)');
  }
  const user = text.slice(0, colon);
  const password = text.slice(colon + 1);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) throw new UdnsError('config_invalid', '--basic-auth: the user name and password may not hold control characters');
  if (Buffer.byteLength(user) > MAX_CREDENTIAL_BYTES || Buffer.byteLength(password) > MAX_CREDENTIAL_BYTES) {
    throw new UdnsError('config_invalid', `--basic-auth: user name and password must each be at most ${MAX_CREDENTIAL_BYTES} bytes`);
  }
  return { user, password };
}

/**
 * Checks a whole RouteAccessSpec (flags or a config file), every problem at once.
 * @throws UdnsError `config_invalid`
 */
export function checkRouteAccessSpec(spec: RouteAccessSpec, kind: 'http' | 'tcp'): void {
  const problems: string[] = [];
  const attempt = (check: () => void): void => {
    try {
      check();
    } catch (error) {
      problems.push((error as Error).message);
    }
  };
  for (const text of spec.allowIp ?? []) attempt(() => parseAccessNetwork(text, '--allow-ip'));
  for (const text of spec.denyIp ?? []) attempt(() => parseAccessNetwork(text, '--deny-ip'));
  for (const { user, password } of spec.basicAuth ?? []) attempt(() => parseBasicAuth(`${user}:${password}`));
  if (kind === 'tcp' && (spec.basicAuth?.length ?? 0) > 0) {
    problems.push('--basic-auth needs HTTP; a tcp route carries any protocol: limit it with --allow-ip / --deny-ip');
  }
  const users = (spec.basicAuth ?? []).map((entry) => entry.user);
  if (new Set(users).size !== users.length) problems.push('--basic-auth: each user name once');
  if (problems.length > 0) throw new UdnsError('config_invalid', problems.join('; '));
}

/** The wire form of a spec: networks as given, each password as scrypt with a fresh salt per route. */
export function routeAccessWire(spec: RouteAccessSpec): RouteAccessWire | undefined {
  const salt = randomBytes(16).toString('hex');
  const wire: RouteAccessWire = {};
  if ((spec.allowIp?.length ?? 0) > 0) wire.allowIp = [...spec.allowIp!];
  if ((spec.denyIp?.length ?? 0) > 0) wire.denyIp = [...spec.denyIp!];
  if ((spec.basicAuth?.length ?? 0) > 0) {
    wire.basicAuth = {
      kdf: BASIC_AUTH_KDF,
      users: spec.basicAuth!.map(({ user, password }) => ({ user, salt, hash: basicAuthHash(password, salt).toString('hex') })),
    };
  }
  return Object.keys(wire).length === 0 ? undefined : wire;
}

/** scrypt of a password under a route's salt (hex), as RouteAccessWire carries it. */
export function basicAuthHash(password: string, saltHex: string): Buffer {
  return scryptSync(password, Buffer.from(saltHex, 'hex'), 32, SCRYPT_OPTIONS);
}

/** True when `hash` (hex) is scrypt(password, salt): constant time. */
export function matchesBasicAuthHash(password: string, user: BasicAuthUserWire): boolean {
  return timingSafeEqual(basicAuthHash(password, user.salt), Buffer.from(user.hash, 'hex'));
}

/**
 * The user name and password of an `Authorization: Basic` value, or null when it is none
 * (another scheme, bad base64, no colon). The scheme is case-insensitive (RFC 9110 §11.1).
 */
export function decodeBasicAuthorization(value: string): BasicAuthUser | null {
  const match = /^[Bb][Aa][Ss][Ii][Cc] +([A-Za-z0-9+/]+={0,2}) *$/.exec(value);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** SHA-256 (hex) of an Authorization value: what caches of accepted values are keyed by. */
export function authorizationDigest(value: string): string {
  return createHash('sha256').update(value, 'latin1').digest('hex');
}

/**
 * An allow and a deny list as one test: deny wins; with an allow list, only its networks pass.
 * IPv4-mapped IPv6 addresses (dual-stack sockets) count as IPv4; a `%zone` is ignored.
 */
export class IpRules {
  readonly empty: boolean;
  private readonly allow: net.BlockList | null;
  private readonly deny: net.BlockList | null;

  /** @throws UdnsError `config_invalid` for a malformed network */
  constructor(allowIp: readonly string[] = [], denyIp: readonly string[] = []) {
    this.allow = blockList(allowIp, '--allow-ip');
    this.deny = blockList(denyIp, '--deny-ip');
    this.empty = this.allow === null && this.deny === null;
  }

  /** True when a visitor from `address` may pass. Anything that is not an address is refused when there are rules. */
  allows(address: string): boolean {
    if (this.empty) return true;
    const plain = address.split('%')[0]!;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain)?.[1];
    const candidate = mapped ?? plain;
    const version = net.isIP(candidate);
    if (version === 0) return false;
    const family = version === 4 ? 'ipv4' : 'ipv6';
    if (this.deny?.check(candidate, family)) return false;
    return this.allow === null || this.allow.check(candidate, family);
  }
}

function blockList(texts: readonly string[], flag: string): net.BlockList | null {
  if (texts.length === 0) return null;
  const list = new net.BlockList();
  for (const text of texts) {
    const network = parseAccessNetwork(text, flag);
    list.addSubnet(network.address, network.prefix, network.family);
  }
  return list;
}

/** The network address of `address/prefix` when `address` has bits set past the prefix, else null. */
function networkBase(address: string, prefix: number, family: 'ipv4' | 'ipv6'): string | null {
  const bytes = family === 'ipv4' ? ipv4Bytes(address) : ipv6Bytes(address);
  const masked = bytes.map((byte, index) => byte & (0xff << (8 - Math.max(0, Math.min(8, prefix - index * 8)))) & 0xff);
  if (masked.every((byte, index) => byte === bytes[index])) return null;
  if (family === 'ipv4') return masked.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((masked[i]! << 8) | masked[i + 1]!).toString(16));
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}
