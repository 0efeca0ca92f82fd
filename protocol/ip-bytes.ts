import net from 'node:net';

/** The 4 bytes of an IPv4 address in dotted form; throws for anything else. */
export function ipv4Bytes(address: string): number[] {
  if (!net.isIPv4(address)) throw new Error(`invalid IPv4 address ${JSON.stringify(address)}`);
  return address.split('.').map(Number);
}

/**
 * The 16 bytes of an IPv6 address in any text form Node accepts (`::`, an embedded IPv4 tail,
 * a `%zone` suffix, which is ignored); throws for anything else.
 */
export function ipv6Bytes(address: string): number[] {
  const plain = address.split('%')[0]!;
  if (!net.isIPv6(plain)) throw new Error(`invalid IPv6 address ${JSON.stringify(address)}`);
  const [head = '', tail] = plain.split('::');
  const expand = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (group.includes('.')) return ipv4Bytes(group);
          const value = parseInt(group, 16);
          return [value >> 8, value & 0xff];
        });
  const front = expand(head);
  const back = tail === undefined ? [] : expand(tail);
  return [...front, ...new Array<number>(16 - front.length - back.length).fill(0), ...back];
}
