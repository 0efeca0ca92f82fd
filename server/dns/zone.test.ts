import dns2 from 'dns2';
import { describe, expect, test } from 'vitest';
import { answerQuestion, APEX_TTL, CLAIMED_NAME_TTL, MAX_CNAME_CHAIN, SOA_TIMERS, type MemberRecord, type ZoneView } from './zone.js';

const { Packet } = dns2;
const { TYPE, CLASS, RCODE } = Packet;

type Records = Record<string, MemberRecord[]>;

/** A zone over fixed claims and records; `asked` lists every label and owner it was asked about. */
function zoneOf(claimed: string[], publicIp6?: string, records: Records = {}, options: { caa?: string[]; ents?: boolean } = {}) {
  const asked: string[] = [];
  const zone: ZoneView & { asked: string[] } = {
    domain: 'udns.test',
    publicIp: '203.0.113.7',
    ...(publicIp6 === undefined ? {} : { publicIp6 }),
    ...(options.caa === undefined ? {} : { caa: options.caa }),
    asked,
    isClaimed: (label) => {
      asked.push(`claim ${label}`);
      return claimed.includes(label);
    },
    serial: () => 2026112501,
    recordsAt: (owner) => {
      asked.push(`records ${owner}`);
      return records[owner] ?? [];
    },
  };
  if (options.ents !== false) zone.hasRecordsBelow = (owner) => Object.keys(records).some((name) => name.endsWith(`.${owner}`));
  return zone;
}

const zone = zoneOf(['alice', 'bob-2']);
const zone6 = zoneOf(['alice'], '2001:db8::7');
const ask = (z: ZoneView, name: string, type: number, cls: number = CLASS.IN) => answerQuestion(z, { name, type, class: cls });

const expectedSoa = (ttl: number) => ({
  name: 'udns.test',
  type: TYPE.SOA,
  class: CLASS.IN,
  ttl,
  primary: 'ns1.udns.test',
  admin: 'hostmaster.udns.test',
  serial: 2026112501,
  refresh: SOA_TIMERS.refresh,
  retry: SOA_TIMERS.retry,
  expiration: SOA_TIMERS.expire,
  minimum: 60,
});
const a = (name: string, ttl: number) => ({ name, type: TYPE.A, class: CLASS.IN, ttl, address: '203.0.113.7' });
const aaaa = (name: string, ttl: number) => ({ name, type: TYPE.AAAA, class: CLASS.IN, ttl, address: '2001:db8::7' });

describe('the apex', () => {
  test('SOA names ns1 and hostmaster and carries the zone serial', () => {
    expect(ask(zone, 'udns.test', TYPE.SOA)).toEqual({
      rcode: RCODE.NOERROR,
      authoritative: true,
      answers: [expectedSoa(APEX_TTL)],
      authorities: [],
      additionals: [],
    });
  });

  test('NS lists ns1 and ns2 with glue addresses', () => {
    const answer = ask(zone6, 'udns.test', TYPE.NS);
    expect(answer.answers.map((r) => [r.type, r.ns, r.ttl])).toEqual([
      [TYPE.NS, 'ns1.udns.test', APEX_TTL],
      [TYPE.NS, 'ns2.udns.test', APEX_TTL],
    ]);
    expect(answer.additionals).toEqual([
      a('ns1.udns.test', APEX_TTL),
      aaaa('ns1.udns.test', APEX_TTL),
      a('ns2.udns.test', APEX_TTL),
      aaaa('ns2.udns.test', APEX_TTL),
    ]);
  });

  test('A and AAAA give the public addresses; AAAA without publicIp6 is NODATA', () => {
    expect(ask(zone6, 'udns.test', TYPE.A).answers).toEqual([a('udns.test', APEX_TTL)]);
    expect(ask(zone6, 'udns.test', TYPE.AAAA).answers).toEqual([aaaa('udns.test', APEX_TTL)]);
    const nodata = ask(zone, 'udns.test', TYPE.AAAA);
    expect(nodata).toMatchObject({ rcode: RCODE.NOERROR, authoritative: true, answers: [] });
    expect(nodata.authorities).toEqual([expectedSoa(SOA_TIMERS.minimum)]);
  });

  test('a type the apex lacks (MX) is NODATA with the SOA', () => {
    expect(ask(zone, 'udns.test', TYPE.MX)).toMatchObject({ rcode: RCODE.NOERROR, answers: [], authorities: [expectedSoa(60)] });
  });
});

describe('names under the apex', () => {
  test('ns1 and ns2 resolve to the public address', () => {
    expect(ask(zone, 'ns1.udns.test', TYPE.A).answers).toEqual([a('ns1.udns.test', APEX_TTL)]);
    expect(ask(zone6, 'NS2.udns.test', TYPE.AAAA).answers).toEqual([aaaa('NS2.udns.test', APEX_TTL)]);
  });

  test('a claimed name answers A with TTL 60, and AAAA when publicIp6 is set', () => {
    expect(ask(zone, 'bob-2.udns.test', TYPE.A)).toEqual({
      rcode: RCODE.NOERROR,
      authoritative: true,
      answers: [a('bob-2.udns.test', CLAIMED_NAME_TTL)],
      authorities: [],
      additionals: [],
    });
    expect(ask(zone6, 'alice.udns.test', TYPE.AAAA).answers).toEqual([aaaa('alice.udns.test', 60)]);
  });

  test('matching ignores case and the answer echoes the name as asked', () => {
    zone.asked.length = 0;
    expect(ask(zone, 'AlIcE.UDNS.Test', TYPE.A).answers).toEqual([a('AlIcE.UDNS.Test', 60)]);
    expect(zone.asked).toEqual(['records alice', 'claim alice']);
  });

  test('ANY gets only the addresses (RFC 8482)', () => {
    expect(ask(zone6, 'alice.udns.test', TYPE.ANY).answers).toEqual([a('alice.udns.test', 60), aaaa('alice.udns.test', 60)]);
  });

  test('a claimed name asked for MX or TXT is NODATA with the SOA', () => {
    for (const type of [TYPE.MX, TYPE.TXT, TYPE.CNAME]) {
      expect(ask(zone, 'alice.udns.test', type)).toEqual({
        rcode: RCODE.NOERROR,
        authoritative: true,
        answers: [],
        authorities: [expectedSoa(60)],
        additionals: [],
      });
    }
  });

  test('an unclaimed name is NXDOMAIN with the SOA in authority', () => {
    expect(ask(zone, 'carol.udns.test', TYPE.A)).toEqual({
      rcode: RCODE.NXDOMAIN,
      authoritative: true,
      answers: [],
      authorities: [expectedSoa(60)],
      additionals: [],
    });
  });

  test('names below a claimed name without records, and labels that could never be claimed, are NXDOMAIN', () => {
    zone.asked.length = 0;
    for (const name of ['x.alice.udns.test', 'a.b.ns1.udns.test', '_acme.udns.test', '-bad.udns.test', `${'a'.repeat(64)}.udns.test`]) {
      expect(ask(zone, name, TYPE.A).rcode, name).toBe(RCODE.NXDOMAIN);
    }
    // Only a syntactically valid label is looked up as a claim.
    expect(zone.asked.filter((entry) => entry.startsWith('claim'))).toEqual([]);
  });

  test('names that cannot be owners never reach the directory', () => {
    zone.asked.length = 0;
    for (const name of ['a b.udns.test', 'caf\u00e9.udns.test', 'x..udns.test', `${'a'.repeat(64)}.udns.test`, 'a*.udns.test']) {
      expect(ask(zone, name, TYPE.A).rcode, name).toBe(RCODE.NXDOMAIN);
    }
    expect(zone.asked).toEqual([]);
  });
});

describe('questions the zone does not answer', () => {
  test('names outside the zone are REFUSED without the AA bit', () => {
    for (const name of ['example.com', 'test', 'notudns.test', 'alice.udns.test.evil', '']) {
      expect(ask(zone, name, TYPE.A), name).toEqual({ rcode: RCODE.REFUSED, authoritative: false, answers: [], authorities: [], additionals: [] });
    }
  });

  test('classes other than IN, and zone transfers, are REFUSED', () => {
    expect(ask(zone, 'alice.udns.test', TYPE.TXT, CLASS.CH).rcode).toBe(RCODE.REFUSED);
    expect(ask(zone, 'udns.test', TYPE.AXFR).rcode).toBe(RCODE.REFUSED);
    expect(ask(zone, 'udns.test', 251).rcode).toBe(RCODE.REFUSED);
  });
});

test('the SOA serial follows the zone', () => {
  let serial = 1;
  const live: ZoneView = { ...zone, serial: () => serial };
  expect(ask(live, 'udns.test', TYPE.SOA).answers[0]?.serial).toBe(1);
  serial = 2;
  expect(ask(live, 'nobody.udns.test', TYPE.A).authorities[0]?.serial).toBe(2);
});

const rec = (type: MemberRecord['type'], value: string, ttl = 120): MemberRecord => ({ type, value, ttl });
const records: Records = {
  alice: [rec('TXT', 'v=spf1 -all'), rec('TXT', 'hello world')],
  dyn: [rec('A', '192.0.2.55', 30), rec('A', '192.0.2.56', 30)],
  dyn6: [rec('AAAA', '2001:db8::55', 30)],
  'www.alice': [rec('CNAME', 'alice.udns.test')],
  'api.alice': [rec('A', '198.51.100.9'), rec('TXT', 'api')],
  '_acme-challenge.alice': [rec('TXT', 'token-1'), rec('TXT', 'token-2')],
  'sel._domainkey.alice': [rec('TXT', 'x'.repeat(600))],
  'ext.alice': [rec('CNAME', 'Target.Example.ORG.')],
  'apex.alice': [rec('CNAME', 'udns.test.')],
  'gone.alice': [rec('CNAME', 'nobody.udns.test')],
  'loop1.alice': [rec('CNAME', 'loop2.alice.udns.test')],
  'loop2.alice': [rec('CNAME', 'LOOP1.alice.udns.test')],
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`c${i}.alice`, [rec('CNAME', `c${i + 1}.alice.udns.test`)]])),
  'c12.alice': [rec('A', '198.51.100.12')],
  bob: [rec('CNAME', 'alice.udns.test'), rec('A', '198.51.100.1')],
};
const members = zoneOf(['alice', 'dyn', 'dyn6', 'bob'], '2001:db8::7', records, { caa: ['0 issue "letsencrypt.org"', '128 iodef "mailto:ca@udns.test"'] });
const answersOf = (z: ZoneView, name: string, type: number) => ask(z, name, type).answers.map((r) => [r.name, r.type, r.address ?? r.domain ?? r.data?.map(String) ?? r.value, r.ttl]);

describe('records from members', () => {
  test('explicit A records replace the edge address of a claimed name; AAAA stays the edge one', () => {
    expect(answersOf(members, 'dyn.udns.test', TYPE.A)).toEqual([
      ['dyn.udns.test', TYPE.A, '192.0.2.55', 30],
      ['dyn.udns.test', TYPE.A, '192.0.2.56', 30],
    ]);
    expect(answersOf(members, 'dyn.udns.test', TYPE.AAAA)).toEqual([['dyn.udns.test', TYPE.AAAA, '2001:db8::7', CLAIMED_NAME_TTL]]);
    expect(answersOf(members, 'dyn6.udns.test', TYPE.AAAA)).toEqual([['dyn6.udns.test', TYPE.AAAA, '2001:db8::55', 30]]);
    expect(answersOf(members, 'dyn6.udns.test', TYPE.A)).toEqual([['dyn6.udns.test', TYPE.A, '203.0.113.7', CLAIMED_NAME_TTL]]);
  });

  test('explicit AAAA answers even when the edge has no IPv6', () => {
    const v4only = zoneOf(['dyn6'], undefined, records);
    expect(answersOf(v4only, 'dyn6.udns.test', TYPE.AAAA)).toEqual([['dyn6.udns.test', TYPE.AAAA, '2001:db8::55', 30]]);
  });

  test('several TXT records at a claimed name, each its own record, beside the edge address', () => {
    expect(answersOf(members, 'alice.udns.test', TYPE.TXT)).toEqual([
      ['alice.udns.test', TYPE.TXT, ['v=spf1 -all'], 120],
      ['alice.udns.test', TYPE.TXT, ['hello world'], 120],
    ]);
    expect(answersOf(members, 'alice.udns.test', TYPE.A)).toEqual([['alice.udns.test', TYPE.A, '203.0.113.7', 60]]);
  });

  test('a TXT value over 255 bytes is split into 255-byte strings', () => {
    const [txt] = ask(members, 'sel._domainkey.alice.udns.test', TYPE.TXT).answers;
    expect(txt?.data?.map((part) => part.length)).toEqual([255, 255, 90]);
    expect(Buffer.concat(txt!.data!).toString()).toBe('x'.repeat(600));
  });

  test('sub-names exist only with records: what they have answers, other types are NODATA', () => {
    expect(answersOf(members, 'api.alice.udns.test', TYPE.A)).toEqual([['api.alice.udns.test', TYPE.A, '198.51.100.9', 120]]);
    expect(answersOf(members, '_acme-challenge.alice.udns.test', TYPE.TXT).map((r) => r[2])).toEqual([['token-1'], ['token-2']]);
    const nodata = ask(members, 'api.alice.udns.test', TYPE.AAAA);
    expect(nodata).toMatchObject({ rcode: RCODE.NOERROR, answers: [], authorities: [expectedSoa(60)] });
    expect(ask(members, 'nothing.alice.udns.test', TYPE.A)).toMatchObject({ rcode: RCODE.NXDOMAIN, answers: [], authorities: [expectedSoa(60)] });
    expect(ask(members, 'x.api.alice.udns.test', TYPE.A).rcode).toBe(RCODE.NXDOMAIN);
  });

  test('an empty non-terminal is NODATA (RFC 8020), and NXDOMAIN only when the zone cannot tell', () => {
    expect(ask(members, '_domainkey.alice.udns.test', TYPE.TXT)).toMatchObject({ rcode: RCODE.NOERROR, answers: [], authorities: [expectedSoa(60)] });
    const withoutHook = zoneOf(['alice'], undefined, records, { ents: false });
    expect(ask(withoutHook, '_domainkey.alice.udns.test', TYPE.TXT).rcode).toBe(RCODE.NXDOMAIN);
  });

  test('names match whatever their case; records are asked for by the lowercase owner', () => {
    members.asked.length = 0;
    expect(answersOf(members, 'API.Alice.UDNS.test', TYPE.A)).toEqual([['API.Alice.UDNS.test', TYPE.A, '198.51.100.9', 120]]);
    expect(members.asked).toEqual(['records api.alice']);
  });

  test('a CNAME inside the zone is answered and chased for the type asked', () => {
    expect(answersOf(members, 'www.alice.udns.test', TYPE.A)).toEqual([
      ['www.alice.udns.test', TYPE.CNAME, 'alice.udns.test', 120],
      ['alice.udns.test', TYPE.A, '203.0.113.7', 60],
    ]);
    expect(answersOf(members, 'www.alice.udns.test', TYPE.TXT).map((r) => r[1])).toEqual([TYPE.CNAME, TYPE.TXT, TYPE.TXT]);
    expect(answersOf(members, 'apex.alice.udns.test', TYPE.A)).toEqual([
      ['apex.alice.udns.test', TYPE.CNAME, 'udns.test', 120],
      ['udns.test', TYPE.A, '203.0.113.7', APEX_TTL],
    ]);
  });

  test('asked for the CNAME itself, or ANY, the CNAME alone answers', () => {
    for (const type of [TYPE.CNAME, TYPE.ANY]) {
      expect(answersOf(members, 'www.alice.udns.test', type)).toEqual([['www.alice.udns.test', TYPE.CNAME, 'alice.udns.test', 120]]);
    }
  });

  test('a chased name lacking the type gives NODATA, a missing one NXDOMAIN, each after the CNAME (RFC 6604)', () => {
    const nodata = ask(members, 'www.alice.udns.test', TYPE.MX);
    expect(nodata).toMatchObject({ rcode: RCODE.NOERROR, authorities: [expectedSoa(60)] });
    expect(nodata.answers.map((r) => r.type)).toEqual([TYPE.CNAME]);
    const nxdomain = ask(members, 'gone.alice.udns.test', TYPE.A);
    expect(nxdomain).toMatchObject({ rcode: RCODE.NXDOMAIN, authoritative: true, authorities: [expectedSoa(60)] });
    expect(nxdomain.answers.map((r) => r.domain)).toEqual(['nobody.udns.test']);
  });

  test('a CNAME pointing outside the zone is returned alone, without SOA', () => {
    expect(ask(members, 'ext.alice.udns.test', TYPE.A)).toEqual({
      rcode: RCODE.NOERROR,
      authoritative: true,
      answers: [{ name: 'ext.alice.udns.test', type: TYPE.CNAME, class: CLASS.IN, ttl: 120, domain: 'Target.Example.ORG' }],
      authorities: [],
      additionals: [],
    });
  });

  test('a CNAME loop stops at the first repeated name, whatever its case', () => {
    expect(answersOf(members, 'loop1.alice.udns.test', TYPE.A).map((r) => r[2])).toEqual(['loop2.alice.udns.test', 'LOOP1.alice.udns.test']);
    expect(ask(members, 'loop1.alice.udns.test', TYPE.A).rcode).toBe(RCODE.NOERROR);
  });

  test(`a chain is followed for at most ${MAX_CNAME_CHAIN} CNAMEs`, () => {
    const short = answersOf(members, 'c6.alice.udns.test', TYPE.A);
    expect(short.map((r) => r[1])).toEqual([...Array(6).fill(TYPE.CNAME), TYPE.A]);
    const long = answersOf(members, 'c0.alice.udns.test', TYPE.A);
    expect(long.map((r) => r[1])).toEqual(Array(MAX_CNAME_CHAIN).fill(TYPE.CNAME));
  });

  test('a CNAME at a claimed name hides its other records and the edge address', () => {
    expect(answersOf(members, 'bob.udns.test', TYPE.A)).toEqual([
      ['bob.udns.test', TYPE.CNAME, 'alice.udns.test', 120],
      ['alice.udns.test', TYPE.A, '203.0.113.7', 60],
    ]);
  });

  test('ANY at a name with only TXT gets the TXT records', () => {
    expect(answersOf(members, '_acme-challenge.alice.udns.test', TYPE.ANY).map((r) => r[1])).toEqual([TYPE.TXT, TYPE.TXT]);
    expect(answersOf(members, 'api.alice.udns.test', TYPE.ANY).map((r) => r[1])).toEqual([TYPE.A]);
  });
});

describe('CAA at the apex', () => {
  test('answers each CAA record from the zone', () => {
    expect(ask(members, 'UDNS.test', TYPE.CAA).answers).toEqual([
      { name: 'UDNS.test', type: TYPE.CAA, class: CLASS.IN, ttl: APEX_TTL, flags: 0, tag: 'issue', value: 'letsencrypt.org' },
      { name: 'UDNS.test', type: TYPE.CAA, class: CLASS.IN, ttl: APEX_TTL, flags: 128, tag: 'iodef', value: 'mailto:ca@udns.test' },
    ]);
  });

  test('without CAA, or below the apex, CAA is NODATA', () => {
    expect(ask(zone, 'udns.test', TYPE.CAA)).toMatchObject({ rcode: RCODE.NOERROR, answers: [], authorities: [expectedSoa(60)] });
    expect(ask(members, 'alice.udns.test', TYPE.CAA)).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
  });

  test('the apex and ns1 never ask the directory', () => {
    members.asked.length = 0;
    for (const type of [TYPE.A, TYPE.TXT, TYPE.CAA]) ask(members, 'udns.test', type);
    ask(members, 'ns1.udns.test', TYPE.A);
    expect(members.asked).toEqual([]);
  });
});
