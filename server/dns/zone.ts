import dns2 from 'dns2';
import { isLabel } from '../../protocol/names.js';
import {
  asciiLowercase,
  caaRecord,
  memberRecord,
  withoutTrailingDot,
  type MemberRecord,
  type ZoneRecord,
} from './zone-records.js';

export type { MemberRecord, ZoneRecord } from './zone-records.js';

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
  /** Records at an owner name relative to the zone apex, lowercase, e.g. 'alice', 'www.alice', '_acme-challenge.alice'. Empty when none. Synchronous (in-memory). */
  recordsAt(owner: string): readonly { type: 'A' | 'AAAA' | 'TXT' | 'CNAME'; value: string; ttl: number }[];
  /** CAA records at the apex, e.g. '0 issue "letsencrypt.org"'; empty for none. */
  readonly caa?: readonly string[];
  /**
   * True when some name strictly below `owner` (relative, lowercase) has records. Only this
   * tells an empty non-terminal (`_domainkey.alice` while `sel._domainkey.alice` has a TXT)
   * from a name that does not exist: with it such names are NODATA (RFC 8020), without it
   * NXDOMAIN, which resolvers that minimise query names (RFC 9156) may take as "nothing below".
   */
  hasRecordsBelow?(owner: string): boolean;
}

/** TTL of a claimed name's A/AAAA: short, so a name that moves is picked up within a minute. */
export const CLAIMED_NAME_TTL = 60;
/** TTL of the apex and name-server records, which change only when the edge is re-addressed. */
export const APEX_TTL = 300;
/** SOA timers in seconds. `minimum` is the negative-caching TTL (RFC 2308), kept as short as claims. */
export const SOA_TIMERS = { refresh: 3600, retry: 600, expire: 1_209_600, minimum: 60 } as const;
/** CNAMEs followed inside the zone for one answer; a longer chain is answered as far as it got. */
export const MAX_CNAME_CHAIN = 8;

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

// Owner names a member can have records at: labels of letters, digits, '-' and '_' (for
// `_acme-challenge` and friends). Anything else cannot exist and never reaches the directory.
const OWNER = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/;

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

function edgeAddress(zone: ZoneView, name: string, type: number, ttl: number): ZoneRecord[] {
  const address = type === Packet.TYPE.A ? zone.publicIp : zone.publicIp6;
  return address === undefined ? [] : [{ name, type, class: Packet.CLASS.IN, ttl, address }];
}

function edgeAddresses(zone: ZoneView, name: string, ttl: number): ZoneRecord[] {
  return [...edgeAddress(zone, name, Packet.TYPE.A, ttl), ...edgeAddress(zone, name, Packet.TYPE.AAAA, ttl)];
}

function nameServers(zone: ZoneView, name: string): ZoneRecord[] {
  return ['ns1', 'ns2'].map((label) => ({ name, type: Packet.TYPE.NS, class: Packet.CLASS.IN, ttl: APEX_TTL, ns: `${label}.${zone.domain}` }));
}

/**
 * Every record at one name inside the zone, A and AAAA first, or null when the name does not
 * exist. `owner` is relative to the apex and lowercase ('' for the apex); `name` is how the
 * records are written (the question's spelling, or a CNAME's target).
 */
function recordsOf(zone: ZoneView, owner: string, name: string): ZoneRecord[] | null {
  if (owner === '') {
    const caa = (zone.caa ?? []).map((text) => caaRecord(name, text, APEX_TTL));
    return [...edgeAddresses(zone, name, APEX_TTL), { ...soaRecord(zone, APEX_TTL), name }, ...nameServers(zone, name), ...caa];
  }
  if (owner === 'ns1' || owner === 'ns2') return edgeAddresses(zone, name, APEX_TTL);
  if (!OWNER.test(owner) || owner.length > 253) return null;

  const stored = zone.recordsAt(owner);
  // A CNAME is the only data its name may have (RFC 1034 §3.6.2), so it hides everything
  // else, the edge's addresses included; of several, the first counts.
  const cname = stored.find((record) => record.type === 'CNAME');
  if (cname !== undefined) return [memberRecord(name, cname)];

  const claimed = isLabel(owner) && zone.isClaimed(owner);
  const ofType = (type: MemberRecord['type']): ZoneRecord[] =>
    stored.filter((record) => record.type === type).map((record) => memberRecord(name, record));
  const addresses = (type: 'A' | 'AAAA', code: number): ZoneRecord[] => {
    const explicit = ofType(type);
    // A claimed name points at the edge unless its member set addresses of that type
    // themselves (dynamic DNS); sub-names only ever have what was stored.
    return explicit.length > 0 || !claimed ? explicit : edgeAddress(zone, name, code, CLAIMED_NAME_TTL);
  };
  const records = [...addresses('A', Packet.TYPE.A), ...addresses('AAAA', Packet.TYPE.AAAA), ...ofType('TXT')];
  if (records.length > 0 || claimed || stored.length > 0) return records;
  // Nothing here, but a deeper name has records: an empty non-terminal, which exists.
  return zone.hasRecordsBelow?.(owner) === true ? [] : null;
}

/**
 * What ANY gets: the minimal answer RFC 8482 allows, one kind of data rather than all of it —
 * the addresses when the name has some, otherwise its first RRset.
 */
function minimalAny(records: ZoneRecord[]): ZoneRecord[] {
  const addresses = records.filter((record) => record.type === Packet.TYPE.A || record.type === Packet.TYPE.AAAA);
  if (addresses.length > 0) return addresses;
  const first = records[0];
  return first === undefined ? [] : records.filter((record) => record.type === first.type);
}

function result(rcode: number, answers: ZoneRecord[], authorities: ZoneRecord[] = [], additionals: ZoneRecord[] = []): ZoneAnswer {
  return { rcode, authoritative: true, answers, authorities, additionals };
}

/** The owner of `name` relative to `apex` ('' for the apex itself), or null when outside it. */
function ownerIn(apex: string, name: string): string | null {
  if (name === apex) return '';
  return name.endsWith(`.${apex}`) ? name.slice(0, -(apex.length + 1)) : null;
}

/**
 * Answers one question for the zone: a pure function of the zone's current state, so every
 * case can be tested without sockets.
 *
 * Names that exist: the apex (SOA, NS, A, AAAA, CAA), `ns1`/`ns2`, claimed labels (the edge's
 * A/AAAA unless the member stored their own, plus stored TXT), names with stored records, and
 * empty non-terminals above them. Any other name in the zone is NXDOMAIN, an existing name
 * asked for a type it lacks is NODATA; both carry the SOA in the authority section so
 * resolvers can cache the negative answer. A CNAME is answered for any type and, when its
 * target is inside the zone, followed (at most {@link MAX_CNAME_CHAIN} links, loops stopped):
 * the target's records of the asked type are added and its NXDOMAIN or NODATA becomes the
 * answer's (RFC 6604). Questions outside the zone, in a class other than IN, or asking for a
 * zone transfer are REFUSED. ANY gets a minimal answer (RFC 8482).
 */
export function answerQuestion(zone: ZoneView, question: ZoneQuestion): ZoneAnswer {
  const apex = zone.domain;
  let owner = ownerIn(apex, asciiLowercase(question.name));
  if (owner === null || question.class !== Packet.CLASS.IN || question.type === IXFR || question.type === Packet.TYPE.AXFR) {
    return { rcode: Packet.RCODE.REFUSED, authoritative: false, answers: [], authorities: [], additionals: [] };
  }

  // Negative answers are cached for min(SOA TTL, SOA minimum) (RFC 2308 §5), so give the SOA
  // in the authority section that TTL directly.
  const negativeSoa = (): ZoneRecord[] => [soaRecord(zone, SOA_TIMERS.minimum)];
  const type = question.type;
  const answers: ZoneRecord[] = [];
  const visited = new Set<string>();
  let name = question.name;

  for (;;) {
    visited.add(owner);
    const records = recordsOf(zone, owner, name);
    if (records === null) return result(Packet.RCODE.NXDOMAIN, answers, negativeSoa());

    const cname = records.find((record) => record.type === Packet.TYPE.CNAME);
    // Asked for the CNAME itself, or for ANY, the CNAME is the answer and is not followed.
    if (cname !== undefined && type !== Packet.TYPE.CNAME && type !== Packet.TYPE.ANY) {
      answers.push(cname);
      const target = withoutTrailingDot(cname.domain ?? '');
      const targetOwner = ownerIn(apex, asciiLowercase(target));
      // Outside the zone the resolver follows it; a loop or an over-long chain is answered as
      // far as it goes and the resolver gives up on it, as with any broken chain.
      // (Until the chain ends, the answer holds only its CNAMEs.)
      if (targetOwner === null || visited.has(targetOwner) || answers.length >= MAX_CNAME_CHAIN) {
        return result(Packet.RCODE.NOERROR, answers);
      }
      owner = targetOwner;
      name = target;
      continue;
    }

    const matching = type === Packet.TYPE.ANY ? minimalAny(records) : records.filter((record) => record.type === type);
    if (matching.length === 0) return result(Packet.RCODE.NOERROR, answers, negativeSoa());
    answers.push(...matching);
    // The NS answer brings the name servers' addresses along, as every resolver then asks.
    const additionals =
      owner === '' && type === Packet.TYPE.NS ? [`ns1.${apex}`, `ns2.${apex}`].flatMap((ns) => edgeAddresses(zone, ns, APEX_TTL)) : [];
    return result(Packet.RCODE.NOERROR, answers, [], additionals);
  }
}
