import dns2 from 'dns2';
import { describe, expect, test } from 'vitest';
import { answerQuestion, APEX_TTL, CLAIMED_NAME_TTL, SOA_TIMERS, type ZoneView } from './zone.js';

const { Packet } = dns2;
const { TYPE, CLASS, RCODE } = Packet;

function zoneOf(claimed: string[], publicIp6?: string): ZoneView & { asked: string[] } {
  const asked: string[] = [];
  return {
    domain: 'udns.test',
    publicIp: '203.0.113.7',
    ...(publicIp6 === undefined ? {} : { publicIp6 }),
    asked,
    isClaimed: (label) => {
      asked.push(label);
      return claimed.includes(label);
    },
    serial: () => 2026112501,
  };
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
    expect(zone.asked).toEqual(['alice']);
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

  test('names below a claimed name, and labels that could never be claimed, are NXDOMAIN without asking the zone', () => {
    zone.asked.length = 0;
    for (const name of ['x.alice.udns.test', 'a.b.ns1.udns.test', '_acme.udns.test', '-bad.udns.test', `${'a'.repeat(64)}.udns.test`]) {
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
