import net from 'node:net';
import type { IncomingMessage } from 'node:http';

/** One network of `--trusted-proxy`: an address and how many leading bits count. */
export interface ProxyNetwork {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * Reads `203.0.113.0/24`, `2001:db8::/32` or a single address (a /32 or /128); null for
 * anything else, so the config can name the bad value.
 */
export function parseProxyNetwork(text: string): ProxyNetwork | null {
  const parts = text.trim().split('/');
  if (parts.length > 2) return null;
  const [address, bits] = parts as [string, string | undefined];
  const version = net.isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null;
  const prefix = bits === undefined ? max : Number(bits);
  return prefix > max ? null : { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

const blockLists = new WeakMap<readonly string[], net.BlockList>();

/**
 * True when `address`, the TCP peer of a visitor connection, lies in one of `networks` (the
 * edge's `trustedProxy` setting): that peer is a proxy or CDN the operator put in front of the
 * edge, and the agent may take the client from the `X-Forwarded-For` entry it adds
 * (`VisitorInfo.forwardedTrusted`). IPv4-mapped IPv6 peers (dual-stack sockets) count as IPv4.
 */
export function isTrustedProxy(address: string | undefined, networks: readonly string[]): boolean {
  if (address === undefined || networks.length === 0) return false;
  let list = blockLists.get(networks);
  if (list === undefined) {
    list = new net.BlockList();
    for (const text of networks) {
      const network = parseProxyNetwork(text);
      if (network) list.addSubnet(network.address, network.prefix, network.family);
    }
    blockLists.set(networks, list);
  }
  const plain = address.split('%')[0]!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain)?.[1];
  const candidate = mapped ?? plain;
  const version = net.isIP(candidate);
  return version !== 0 && list.check(candidate, version === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The client of a request the edge answers itself (API, dyndns2, the tunnel endpoint): the TCP
 * peer, or, when that peer is a trusted proxy, the last `X-Forwarded-For` entry (the one the
 * proxy added; anything before it is the client's own claim). Limits and the address `udns
 * ddns` publishes must count the client, not the CDN in front of the edge.
 */
export function clientAddress(req: IncomingMessage, networks: readonly string[]): string {
  const peer = req.socket.remoteAddress ?? '';
  if (!isTrustedProxy(peer, networks)) return peer;
  const header = req.headers['x-forwarded-for'];
  const entries = (Array.isArray(header) ? header.join(',') : header ?? '').split(',');
  const last = entries[entries.length - 1]!.trim();
  return net.isIP(last) === 0 ? peer : last;
}
