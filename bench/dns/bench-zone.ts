/*
 * The zone both servers answer in the DNS benchmark, built from one description so that udns
 * (through a ZoneView) and NSD (through a zone file) serve the same data, and the queries sent
 * to both.
 */
import type { MemberRecord, ZoneView } from '../../server/dns/zone.js';

export const BENCH_DOMAIN = 'bench.test';
const PUBLIC_IP = '203.0.113.7';
const PUBLIC_IP6 = '2001:db8::7';
const SERIAL = 2026112501;
const CAA = '0 issue "letsencrypt.org"';

/** The n-th claimed name: name0001, name0002, … */
export const nameOf = (index: number): string => `name${String(index).padStart(4, '0')}`;

/**
 * Records members set: every 10th name has a TXT record and a `www` CNAME to itself, every
 * 50th points its A record elsewhere (dynamic DNS).
 */
function memberRecords(names: number): Map<string, MemberRecord[]> {
  const records = new Map<string, MemberRecord[]>();
  for (let i = 1; i <= names; i++) {
    const name = nameOf(i);
    if (i % 10 === 0) {
      records.set(name, [{ type: 'TXT', value: `v=spf1 include:_spf.${name}.example -all`, ttl: 60 }]);
      records.set(`www.${name}`, [{ type: 'CNAME', value: `${name}.${BENCH_DOMAIN}`, ttl: 60 }]);
    }
    if (i % 50 === 0) records.set(name, [...(records.get(name) ?? []), { type: 'A', value: `198.51.100.${i % 250}`, ttl: 60 }]);
  }
  return records;
}

/** The zone as udns's DNS server reads it. */
export function benchZoneView(names: number): ZoneView {
  const records = memberRecords(names);
  const claimed = new Set(Array.from({ length: names }, (_, i) => nameOf(i + 1)));
  return {
    domain: BENCH_DOMAIN,
    publicIp: PUBLIC_IP,
    publicIp6: PUBLIC_IP6,
    caa: [CAA],
    isClaimed: (label) => claimed.has(label),
    serial: () => SERIAL,
    recordsAt: (owner) => records.get(owner) ?? [],
    hasRecordsBelow: () => false,
  };
}

/** The same zone in zone-file form, TTLs as udns gives them (apex 300, names 60, SOA minimum 60). */
export function benchZoneFile(names: number): string {
  const records = memberRecords(names);
  const lines = [
    `$ORIGIN ${BENCH_DOMAIN}.`,
    `@ 300 IN SOA ns1.${BENCH_DOMAIN}. hostmaster.${BENCH_DOMAIN}. ${SERIAL} 3600 600 1209600 60`,
    `@ 300 IN NS ns1.${BENCH_DOMAIN}.`,
    `@ 300 IN NS ns2.${BENCH_DOMAIN}.`,
    `@ 300 IN A ${PUBLIC_IP}`,
    `@ 300 IN AAAA ${PUBLIC_IP6}`,
    `@ 300 IN CAA ${CAA}`,
    ...['ns1', 'ns2'].flatMap((ns) => [`${ns} 300 IN A ${PUBLIC_IP}`, `${ns} 300 IN AAAA ${PUBLIC_IP6}`]),
  ];
  for (let i = 1; i <= names; i++) {
    const name = nameOf(i);
    const own = records.get(name) ?? [];
    const explicitA = own.filter((record) => record.type === 'A');
    for (const record of explicitA.length > 0 ? explicitA : [{ value: PUBLIC_IP, ttl: 60 }]) lines.push(`${name} ${record.ttl} IN A ${record.value}`);
    lines.push(`${name} 60 IN AAAA ${PUBLIC_IP6}`);
    for (const record of own.filter((r) => r.type === 'TXT')) lines.push(`${name} ${record.ttl} IN TXT "${record.value}"`);
    for (const record of records.get(`www.${name}`) ?? []) lines.push(`www.${name} ${record.ttl} IN ${record.type} ${record.value}.`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The dnsperf query file: per name an A query, every 2nd an AAAA, every 10th a TXT and its
 * `www` CNAME; plus 10% names that do not exist and a few apex questions — mixed in a fixed
 * shuffled order so both servers see the same sequence.
 */
export function benchQueries(names: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= names; i++) {
    const name = `${nameOf(i)}.${BENCH_DOMAIN}`;
    lines.push(`${name} A`);
    if (i % 2 === 0) lines.push(`${name} AAAA`);
    if (i % 10 === 0) lines.push(`${name} TXT`, `www.${name} A`, `missing${i}.${BENCH_DOMAIN} A`);
  }
  lines.push(`${BENCH_DOMAIN} SOA`, `${BENCH_DOMAIN} NS`, `${BENCH_DOMAIN} CAA`, `ns1.${BENCH_DOMAIN} A`);
  // Fisher-Yates with a fixed LCG: the same order every run.
  let state = 20261125;
  const random = (): number => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  }
  return `${lines.join('\n')}\n`;
}
