import net from 'node:net';
import { ipv6Bytes } from './ip-bytes.js';

/** Prefix lengths that make one "network" for a limit: IPv4 bits and IPv6 bits. */
export interface PrefixBits {
  readonly ipv4: number;
  readonly ipv6: number;
}

/**
 * One visitor, member or guesser: an IPv4 address, or an IPv6 /64. A home or a server gets a
 * whole /64, so counting single IPv6 addresses would hand an attacker billions of fresh budgets.
 * Every per-client limit of the edge and the agent counts by this, never by address string.
 */
export const CLIENT_NETWORK: PrefixBits = { ipv4: 32, ipv6: 64 };

/**
 * The network `address` belongs to, in CIDR form with the host bits cleared (`192.0.2.0/24`,
 * `2001:db8:1:2::/64`). IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, from dual-stack
 * sockets) count as IPv4; a `%zone` is ignored. Anything that is not an IP address (a socket
 * that already closed reports none) is returned as it is, so it still gets a budget of its own.
 */
export function networkOf(address: string, bits: PrefixBits = CLIENT_NETWORK): string {
  const plain = address.split('%')[0]!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain)?.[1];
  const ipv4 = mapped ?? (net.isIPv4(plain) ? plain : undefined);
  if (ipv4 !== undefined) {
    const masked = mask(ipv4.split('.').map(Number), bits.ipv4);
    return `${masked.join('.')}/${bits.ipv4}`;
  }
  if (!net.isIPv6(plain)) return address;
  const masked = mask(ipv6Bytes(plain), bits.ipv6);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((masked[i]! << 8) | masked[i + 1]!).toString(16));
  return `${compressZeros(groups)}/${bits.ipv6}`;
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms: the host itself. */
export function isLoopback(address: string): boolean {
  const plain = address.split('%')[0]!.toLowerCase();
  return plain === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(plain);
}

function mask(bytes: number[], prefix: number): number[] {
  return bytes.map((byte, index) => {
    const keep = Math.max(0, Math.min(8, prefix - index * 8));
    return byte & (0xff << (8 - keep)) & 0xff;
  });
}

/** RFC 5952 text: the longest run of two or more zero groups becomes `::`. */
function compressZeros(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}
