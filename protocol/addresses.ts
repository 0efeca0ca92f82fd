import { isIP } from 'node:net';

/**
 * `::ffff:1.2.3.4` → `1.2.3.4`: dual-stack sockets report IPv4 peers in IPv4-mapped form, which
 * is neither what an A record says nor what a log reader expects. Other addresses pass through.
 */
export function plainAddress(raw: string): string {
  return raw.startsWith('::ffff:') && isIP(raw.slice(7)) === 4 ? raw.slice(7) : raw;
}
