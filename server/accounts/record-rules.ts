import net from 'node:net';
import { UdnsError } from '../../protocol/errors.js';
import { isLabel } from '../../protocol/names.js';

/** The record types members may set under their names. */
export const RECORD_TYPES = ['A', 'AAAA', 'TXT', 'CNAME'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

/** Records one name may hold, counting every sub-name under it. */
export const MAX_RECORDS_PER_NAME = 50;
/**
 * Most bytes of record values at one owner: every answer must fit one DNS message over TCP
 * (65,535 bytes); 50 TXT of 2048 characters would not, and would be unanswerable.
 */
export const MAX_RECORD_BYTES_PER_OWNER = 16 * 1024;
/** Longest TXT value, in characters (printable ASCII, so also bytes). */
export const MAX_TXT_LENGTH = 2048;
/** TTL of a record when none is given: short, as for the edge's own answers. */
export const DEFAULT_RECORD_TTL = 60;
export const MIN_RECORD_TTL = 30;
export const MAX_RECORD_TTL = 86_400;
/** Longest domain name in presentation form without the trailing dot (RFC 1035: 255 octets on the wire). */
export const MAX_DOMAIN_LENGTH = 253;

/** Where a record lives: a claimed name and the path below it. */
export interface RecordOwner {
  /** The claimed name (one label), e.g. `alice`. */
  readonly label: string;
  /** Lowercase labels below it, e.g. `www` or `_acme-challenge.www`; '' for the name itself. */
  readonly host: string;
}

// Below a name, labels may also hold '_' (service labels such as _acme-challenge, _dmarc).
const HOST_LABEL = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;
// A CNAME target: any syntactically valid domain name (letters, digits, '-', '_').
const TARGET_LABEL = HOST_LABEL;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function quoted(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** True for the record types udns stores. */
export function isRecordType(value: string): value is RecordType {
  return (RECORD_TYPES as readonly string[]).includes(value);
}

/**
 * Turns what a user typed into an owner relative to the zone apex: `alice`, `www.alice`, or
 * the full `www.alice.<domain>` (trailing dot allowed) all work; case is folded.
 * @throws UdnsError `record_invalid` for the apex itself, an empty or over-long name
 */
export function relativeOwner(input: string, domain: string): string {
  let name = input.trim().toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === domain) throw new UdnsError('record_invalid', `${domain} is the zone itself, not a name: use a name such as alice or www.alice`);
  if (name.endsWith(`.${domain}`)) name = name.slice(0, -(domain.length + 1));
  if (name.length === 0) throw new UdnsError('record_invalid', 'give a name such as alice or www.alice');
  if (name.length + 1 + domain.length > MAX_DOMAIN_LENGTH) {
    throw new UdnsError('record_invalid', `${quoted(input)} is too long: a full domain name has at most ${MAX_DOMAIN_LENGTH} characters`);
  }
  return name;
}

/**
 * Splits an owner relative to the zone (`www.alice`) into the claimed name and the path below it.
 * @throws UdnsError `name_invalid` when the last label is not a valid name, `record_invalid`
 *   when a label below it is malformed
 */
export function parseOwner(owner: string): RecordOwner {
  const labels = owner.toLowerCase().split('.');
  const label = labels.pop()!;
  if (!isLabel(label)) {
    throw new UdnsError('name_invalid', `invalid name ${quoted(label)}: use 1-63 letters, digits or '-', not starting or ending with '-'`);
  }
  for (const part of labels) {
    if (!HOST_LABEL.test(part)) {
      throw new UdnsError('record_invalid', `invalid label ${quoted(part)} in ${quoted(owner)}: use 1-63 letters, digits, '-' or '_', not starting or ending with '-'`);
    }
  }
  if (owner.length > MAX_DOMAIN_LENGTH) throw new UdnsError('record_invalid', `${quoted(owner)} is too long`);
  return { label, host: labels.join('.') };
}

/** `www` + `alice` → `www.alice`; '' + `alice` → `alice`. */
export function ownerName(owner: RecordOwner): string {
  return owner.host === '' ? owner.label : `${owner.host}.${owner.label}`;
}

/**
 * Checks a record value for its type and returns its canonical text, so equal values compare
 * equal: IPv4 as given (Node accepts only plain dotted decimal), IPv6 compressed lowercase,
 * CNAME targets lowercase without the trailing dot, TXT unchanged.
 * @throws UdnsError `record_invalid` naming what is expected
 */
export function canonicalValue(type: RecordType, value: string): string {
  switch (type) {
    case 'A':
      if (!net.isIPv4(value)) throw new UdnsError('record_invalid', `an A record needs an IPv4 address such as 203.0.113.7, got ${quoted(value)}`);
      return value;
    case 'AAAA':
      if (!net.isIPv6(value) || value.includes('%')) {
        throw new UdnsError('record_invalid', `an AAAA record needs an IPv6 address such as 2001:db8::7, got ${quoted(value)}`);
      }
      // The WHATWG URL serialiser gives the RFC 5952 compressed, lowercase form.
      return new URL(`http://[${value}]/`).hostname.slice(1, -1);
    case 'CNAME': {
      const target = value.trim().toLowerCase().replace(/\.$/, '');
      if (target.length === 0 || target.length > MAX_DOMAIN_LENGTH || !target.includes('.') || !target.split('.').every((part) => TARGET_LABEL.test(part))) {
        throw new UdnsError('record_invalid', `a CNAME record needs a full host name such as host.example.com, got ${quoted(value)}`);
      }
      return target;
    }
    case 'TXT':
      if (value.length > MAX_TXT_LENGTH) throw new UdnsError('record_invalid', `a TXT record holds at most ${MAX_TXT_LENGTH} characters, got ${value.length}`);
      if (!PRINTABLE_ASCII.test(value)) throw new UdnsError('record_invalid', 'a TXT record holds printable ASCII only (no control characters or non-ASCII letters)');
      return value;
  }
}

/**
 * Checks a TTL; undefined stays undefined (the caller picks the default).
 * @throws UdnsError `record_invalid`
 */
export function checkTtl(ttl: number | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  if (!Number.isInteger(ttl) || ttl < MIN_RECORD_TTL || ttl > MAX_RECORD_TTL) {
    throw new UdnsError('record_invalid', `ttl must be a whole number of seconds from ${MIN_RECORD_TTL} to ${MAX_RECORD_TTL}, got ${ttl}`);
  }
  return ttl;
}

/**
 * Checks a record type as typed by a user (any case).
 * @throws UdnsError `record_invalid`
 */
export function parseRecordType(input: string): RecordType {
  const type = input.toUpperCase();
  if (!isRecordType(type)) throw new UdnsError('record_invalid', `unsupported record type ${quoted(input)}: use A, AAAA, TXT or CNAME`);
  return type;
}
