import dns2 from 'dns2';

const { Packet } = dns2;

/** A record a member stored at one of their names, as the zone hands it to DNS. */
export interface MemberRecord {
  type: 'A' | 'AAAA' | 'TXT' | 'CNAME';
  value: string;
  ttl: number;
}

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
  /** CNAME target */
  domain?: string;
  /** TXT: the value's bytes cut into character-strings of at most 255 bytes */
  data?: Buffer[];
  /** CAA */
  flags?: number;
  tag?: string;
  value?: string;
  /** SOA */
  primary?: string;
  admin?: string;
  serial?: number;
  refresh?: number;
  retry?: number;
  expiration?: number;
  minimum?: number;
}

/** Longest character-string in a TXT record: its length travels in one byte (RFC 1035 §3.3). */
export const MAX_TXT_STRING_BYTES = 255;

/** Highest TTL we put on the wire (RFC 2181 §8). */
const MAX_TTL = 0x7fffffff;

// DNS names compare case-insensitively in ASCII only (RFC 4343); String#toLowerCase would
// also fold the Latin-1 characters dns2 produces from high bytes.
export function asciiLowercase(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Cuts a TXT value into character-strings of at most 255 bytes, by bytes of its UTF-8 form:
 * dns2 writes each string's length in one byte, so a longer one would go out corrupted.
 * An empty value is one empty string (TXT RDATA needs at least one).
 */
export function splitTxt(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  const strings: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += MAX_TXT_STRING_BYTES) {
    strings.push(bytes.subarray(offset, offset + MAX_TXT_STRING_BYTES));
  }
  return strings.length > 0 ? strings : [Buffer.alloc(0)];
}

/** A CAA record's fields (RFC 8659 §4.1). */
export interface CaaFields {
  flags: number;
  tag: string;
  value: string;
}

const CAA_TEXT = /^(\d{1,3})\s+([A-Za-z0-9]{1,15})\s+(.*)$/s;

/**
 * Reads a CAA record in zone-file form, e.g. `0 issue "letsencrypt.org"` or
 * `128 iodef "mailto:ca@example.net"`; the value may be unquoted, and `\"` / `\\` escapes
 * are undone inside quotes. Returns null when the text is not of that form.
 */
export function parseCaa(text: string): CaaFields | null {
  const match = CAA_TEXT.exec(text.trim());
  if (match === null) return null;
  const flags = Number(match[1]);
  if (flags > 255) return null;
  let value = match[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    value = value.slice(1, -1).replace(/\\(.)/gs, '$1');
  }
  return { flags, tag: match[2]!, value };
}

/** The TTL to put on the wire for a member-supplied one: a whole number in 0..2^31-1. */
function wireTtl(ttl: number): number {
  return Number.isFinite(ttl) ? Math.min(Math.max(Math.floor(ttl), 0), MAX_TTL) : 0;
}

const TYPE_CODES = {
  A: Packet.TYPE.A,
  AAAA: Packet.TYPE.AAAA,
  TXT: Packet.TYPE.TXT,
  CNAME: Packet.TYPE.CNAME,
} as const;

/**
 * A member's record as a dns2 record owned by `name`. Values are used as given: one that
 * cannot be encoded (a malformed address) makes the encoder throw, which the server answers
 * with SERVFAIL and logs, so a bad entry in the directory is seen rather than skipped.
 */
export function memberRecord(name: string, record: MemberRecord): ZoneRecord {
  const base = { name, type: TYPE_CODES[record.type], class: Packet.CLASS.IN, ttl: wireTtl(record.ttl) };
  switch (record.type) {
    case 'A':
    case 'AAAA':
      return { ...base, address: record.value };
    case 'TXT':
      return { ...base, data: splitTxt(record.value) };
    case 'CNAME':
      return { ...base, domain: withoutTrailingDot(record.value) };
  }
}

/** A CAA record at `name` from its zone-file text; throws when the text does not parse. */
export function caaRecord(name: string, text: string, ttl: number): ZoneRecord {
  const fields = parseCaa(text);
  if (fields === null) throw new Error(`CAA record ${JSON.stringify(text)} is not of the form '0 issue "ca.example"'`);
  return { name, type: Packet.TYPE.CAA, class: Packet.CLASS.IN, ttl, ...fields };
}

/** `name` without one trailing dot: zone data may write absolute names either way. */
export function withoutTrailingDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
