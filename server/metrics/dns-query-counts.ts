/** Query types counted under their own label; every other type is `other`. */
const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'], [28, 'AAAA'],
  [33, 'SRV'], [43, 'DS'], [48, 'DNSKEY'], [64, 'SVCB'], [65, 'HTTPS'], [255, 'ANY'], [257, 'CAA'],
]);
const TYPES = [...TYPE_NAMES.values(), 'other', 'malformed'];
const TYPE_INDEX = new Map([...TYPE_NAMES].map(([code, name]) => [code, TYPES.indexOf(name)]));
const OTHER_TYPE = TYPES.indexOf('other');
const MALFORMED = TYPES.indexOf('malformed');
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'RCODE11', 'RCODE12', 'RCODE13', 'RCODE14', 'RCODE15'];
/** No answer went out: dropped by the rate limiter, a response sent to us, an undecodable message. */
const DROPPED = RCODES.length;
const TRANSPORTS = ['udp', 'tcp'] as const;
const COLUMNS = RCODES.length + 1;

/** One count per (transport, query type, rcode): plain array increments on the answer path. */
export class DnsQueryCounts {
  private readonly counts = new Float64Array(TRANSPORTS.length * TYPES.length * COLUMNS);

  /**
   * Counts one query from its wire bytes and the answer's (null when none was sent). Called from
   * the answer cache's fast path too, so it reads only the bytes: the question's type after its
   * name, the rcode in the answer's fourth byte.
   */
  count(transport: 'udp' | 'tcp', request: Buffer, answer: Buffer | null): void {
    const type = queryType(request);
    const rcode = answer === null || answer.length < 4 ? DROPPED : answer[3]! & 0x0f;
    this.counts[((transport === 'udp' ? 0 : 1) * TYPES.length + type) * COLUMNS + rcode]! += 1;
  }

  /** Every count above zero with its labels. */
  *entries(): Generator<{ transport: string; type: string; rcode: string; count: number }> {
    for (let t = 0; t < TRANSPORTS.length; t++) {
      for (let y = 0; y < TYPES.length; y++) {
        for (let r = 0; r < COLUMNS; r++) {
          const count = this.counts[(t * TYPES.length + y) * COLUMNS + r]!;
          if (count > 0) yield { transport: TRANSPORTS[t]!, type: TYPES[y]!, rcode: r === DROPPED ? 'dropped' : RCODES[r]!, count };
        }
      }
    }
  }
}

/** Index of the first question's type in TYPES, from the message bytes. */
function queryType(message: Buffer): number {
  if (message.length < 12 || message.readUInt16BE(4) === 0) return MALFORMED;
  let offset = 12;
  while (offset < message.length) {
    const length = message[offset]!;
    if (length === 0) {
      offset += 1;
      break;
    }
    if (length >= 0xc0) return MALFORMED; // a question's name is never compressed
    offset += 1 + length;
  }
  if (offset + 2 > message.length) return MALFORMED;
  return TYPE_INDEX.get(message.readUInt16BE(offset)) ?? OTHER_TYPE;
}
