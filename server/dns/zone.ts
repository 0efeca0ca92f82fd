import dns2 from 'dns2';
import { isLabel } from '../../protocol/names.js';

const { Packet } = dns2;

/** What the DNS server needs to know about the zone it is authoritative for. */
export interface ZoneView {
  /** Zone apex, lowercase, no trailing dot, e.g. 'localhost' or 'example.net'. */
  readonly domain: string;
  /** IPv4 handed out for the apex, ns1/ns2 and claimed names. */
  readonly publicIp: string;
  /** When set, AAAA answers too. */
  readonly publicIp6?: string;
  /** True when the label (lowercase, one label) is a claimed name. Synchronous (in-memory cache). */
  isClaimed(label: string): boolean;
  /** SOA serial (YYYYMMDDnn style or a counter); changes when names change. */
  serial(): number;
}

/** TTL of a claimed name's A/AAAA: short, so a name that moves is picked up within a minute. */
export const CLAIMED_NAME_TTL = 60;
/** TTL of the apex and name-server records, which change only when the edge is re-addressed. */
export const APEX_TTL = 300;
/** SOA timers in seconds. `minimum` is the negative-caching TTL (RFC 2308), kept as short as claims. */
export const SOA_TIMERS = { refresh: 3600, retry: 600, expire: 1_209_600, minimum: 60 } as const;

/** A resource record in the plain-object shape dns2 encodes. */
export interface ZoneRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A / AAAA */
  address?: string;
  /** NS */
  ns?: string;
  /** SOA */
  primary?: string;
  admin?: string;
  serial?: number;
  refresh?: number;
  retry?: number;
  expiration?: number;
  minimum?: number;
}

/** The parts of a response that depend on the zone; header id, flags and EDNS are the caller's. */
export interface ZoneAnswer {
  rcode: number;
  /** AA bit: set for every answer about a name inside the zone, including NXDOMAIN. */
  authoritative: boolean;
  answers: ZoneRecord[];
  authorities: ZoneRecord[];
  additionals: ZoneRecord[];
}

/** The question being answered, as dns2 parses it (name without trailing dot). */
export interface ZoneQuestion {
  name: string;
  type: number;
  class: number;
}

// dns2's TYPE table has AXFR (252) but not IXFR.
const IXFR = 251;

// DNS names compare case-insensitively in ASCII only (RFC 4343); String#toLowerCase would
// also fold the Latin-1 characters dns2 produces from high bytes.
function asciiLowercase(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

function soaRecord(zone: ZoneView, ttl: number): ZoneRecord {
  return {
    name: zone.domain,
    type: Packet.TYPE.SOA,
    class: Packet.CLASS.IN,
    ttl,
    primary: `ns1.${zone.domain}`,
    admin: `hostmaster.${zone.domain}`,
    serial: zone.serial() >>> 0,
    refresh: SOA_TIMERS.refresh,
    retry: SOA_TIMERS.retry,
    expiration: SOA_TIMERS.expire,
    minimum: SOA_TIMERS.minimum,
  };
}

function addressRecords(zone: ZoneView, name: string, type: number, ttl: number): ZoneRecord[] {
  const records: ZoneRecord[] = [];
  const wantAny = type === Packet.TYPE.ANY;
  if (type === Packet.TYPE.A || wantAny) {
    records.push({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl, address: zone.publicIp });
  }
  if ((type === Packet.TYPE.AAAA || wantAny) && zone.publicIp6 !== undefined) {
    records.push({ name, type: Packet.TYPE.AAAA, class: Packet.CLASS.IN, ttl, address: zone.publicIp6 });
  }
  return records;
}

function result(rcode: number, answers: ZoneRecord[], authorities: ZoneRecord[] = [], additionals: ZoneRecord[] = []): ZoneAnswer {
  return { rcode, authoritative: true, answers, authorities, additionals };
}

/**
 * Answers one question for the zone: a pure function of the zone's current state, so every
 * case can be tested without sockets.
 *
 * Names that exist: the apex (SOA, NS, A, AAAA), `ns1`/`ns2` and claimed labels (A, AAAA).
 * Any other name in the zone is NXDOMAIN, an existing name asked for a type it lacks is NODATA;
 * both carry the SOA in the authority section so resolvers can cache the negative answer.
 * Questions outside the zone, in a class other than IN, or asking for a zone transfer are REFUSED.
 * ANY returns only the addresses, the minimal answer RFC 8482 allows.
 */
export function answerQuestion(zone: ZoneView, question: ZoneQuestion): ZoneAnswer {
  const asked = question.name;
  const name = asciiLowercase(asked);
  const apex = zone.domain;
  const inZone = name === apex || name.endsWith(`.${apex}`);
  if (!inZone || question.class !== Packet.CLASS.IN || question.type === IXFR || question.type === Packet.TYPE.AXFR) {
    return { rcode: Packet.RCODE.REFUSED, authoritative: false, answers: [], authorities: [], additionals: [] };
  }

  // Negative answers are cached for min(SOA TTL, SOA minimum) (RFC 2308 §5), so give the SOA
  // in the authority section that TTL directly.
  const negativeSoa = (): ZoneRecord[] => [soaRecord(zone, SOA_TIMERS.minimum)];
  const nodata = (): ZoneAnswer => result(Packet.RCODE.NOERROR, [], negativeSoa());
  const type = question.type;

  if (name === apex) {
    if (type === Packet.TYPE.SOA) return result(Packet.RCODE.NOERROR, [{ ...soaRecord(zone, APEX_TTL), name: asked }]);
    if (type === Packet.TYPE.NS) {
      const nameServers = ['ns1', 'ns2'].map((label) => `${label}.${apex}`);
      return result(
        Packet.RCODE.NOERROR,
        nameServers.map((ns) => ({ name: asked, type: Packet.TYPE.NS, class: Packet.CLASS.IN, ttl: APEX_TTL, ns })),
        [],
        nameServers.flatMap((ns) => addressRecords(zone, ns, Packet.TYPE.ANY, APEX_TTL)),
      );
    }
    const addresses = addressRecords(zone, asked, type, APEX_TTL);
    return addresses.length > 0 ? result(Packet.RCODE.NOERROR, addresses) : nodata();
  }

  const label = name.slice(0, -(apex.length + 1));
  let ttl: number | undefined;
  if (label === 'ns1' || label === 'ns2') ttl = APEX_TTL;
  // Only a syntactically valid single label can be claimed; deeper names never exist.
  else if (isLabel(label) && zone.isClaimed(label)) ttl = CLAIMED_NAME_TTL;
  if (ttl === undefined) return result(Packet.RCODE.NXDOMAIN, [], negativeSoa());

  const addresses = addressRecords(zone, asked, type, ttl);
  return addresses.length > 0 ? result(Packet.RCODE.NOERROR, addresses) : nodata();
}
