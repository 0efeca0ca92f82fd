import { randomBytes } from 'node:crypto';
import dns2 from 'dns2';
import { expect, test } from 'vitest';
import { buildResponse, MAX_TCP_MESSAGE_SIZE } from './dns-response.js';
import { encodeMessage } from './message-encoder.js';
import type { MemberRecord, ZoneView } from './zone.js';

const { Packet } = dns2;
const { TYPE, CLASS } = Packet;

const records: Record<string, MemberRecord[]> = {
  alice: [{ type: 'TXT', value: 'v=spf1 -all', ttl: 60 }, { type: 'A', value: '192.0.2.1', ttl: 30 }],
  'www.alice': [{ type: 'CNAME', value: 'alice.udns.test', ttl: 60 }],
  'ext.alice': [{ type: 'CNAME', value: 'target.example.org', ttl: 60 }],
  'dkim._domainkey.alice': [{ type: 'TXT', value: 'k'.repeat(700), ttl: 60 }],
  'six.alice': [{ type: 'AAAA', value: '2001:db8:0:0:1::', ttl: 60 }, { type: 'AAAA', value: '::1', ttl: 60 }],
  'empty.alice': [{ type: 'TXT', value: '', ttl: 60 }],
};
const zone: ZoneView = {
  domain: 'udns.test',
  publicIp: '203.0.113.7',
  publicIp6: '2001:db8::7',
  isClaimed: (label) => label === 'alice',
  serial: () => 2026112501,
  recordsAt: (owner) => records[owner] ?? [],
  hasRecordsBelow: (owner) => Object.keys(records).some((name) => name.endsWith(`.${owner}`)),
  caa: ['0 issue "letsencrypt.org"', '128 tbs "Unknown"'],
};

function request(name: string, type: number, options: { edns?: boolean; doFlag?: boolean; version?: number; opcode?: number } = {}): dns2.Packet {
  const packet = new Packet();
  packet.header = new Packet.Header({ id: 0xbeef, rd: 1, opcode: options.opcode ?? 0 });
  packet.questions = [new Packet.Question(name, type, CLASS.IN)];
  if (options.edns === true) {
    const opt = Packet.Resource.EDNS([], { udpPayloadSize: 4096, doFlag: options.doFlag === true, version: options.version ?? 0 });
    packet.additionals.push({ ...opt, name: '' } as dns2.Packet.Resource);
  }
  return Packet.parse(packet.toBuffer());
}

const questions: Array<[string, number]> = [
  ['udns.test', TYPE.SOA], ['udns.test', TYPE.NS], ['UDNS.test', TYPE.A], ['udns.test', TYPE.AAAA], ['udns.test', TYPE.CAA],
  ['udns.test', TYPE.ANY], ['udns.test', TYPE.MX], ['ns1.udns.test', TYPE.A], ['alice.udns.test', TYPE.A], ['Alice.UDNS.test', TYPE.TXT],
  ['alice.udns.test', TYPE.AAAA], ['www.alice.udns.test', TYPE.A], ['WWW.alice.udns.test', TYPE.TXT], ['ext.alice.udns.test', TYPE.AAAA],
  ['dkim._domainkey.alice.udns.test', TYPE.TXT], ['_domainkey.alice.udns.test', TYPE.TXT], ['six.alice.udns.test', TYPE.AAAA],
  ['empty.alice.udns.test', TYPE.TXT], ['nobody.udns.test', TYPE.A], ['example.com', TYPE.A], ['udns.test', TYPE.AXFR],
];

test('writes exactly what dns2 writes for every kind of response the zone gives', () => {
  let compared = 0;
  for (const [name, type] of questions) {
    for (const options of [{}, { edns: true }, { edns: true, doFlag: true }, { edns: true, version: 1 }, { opcode: 4 }]) {
      const response = buildResponse(zone, request(name, type, options)).packet!;
      const ours = encodeMessage(response, MAX_TCP_MESSAGE_SIZE);
      expect(ours?.toString('hex'), `${name} ${type} ${JSON.stringify(options)}`).toBe(response.toBuffer().toString('hex'));
      compared++;
    }
  }
  expect(compared).toBe(questions.length * 5);
});

test('returns null as soon as the message would pass maxBytes, and fits exactly at the limit', () => {
  const response = buildResponse(zone, request('dkim._domainkey.alice.udns.test', TYPE.TXT, { edns: true })).packet!;
  const whole = encodeMessage(response, MAX_TCP_MESSAGE_SIZE)!;
  expect(encodeMessage(response, whole.length)).toEqual(whole);
  expect(encodeMessage(response, whole.length - 1)).toBeNull();
  expect(encodeMessage(response, 512)).toBeNull();
});

test('messages go up to 65,535 bytes, never beyond whatever the limit asked', () => {
  const txt = (count: number): ZoneView => ({ ...zone, recordsAt: () => Array.from({ length: count }, () => ({ type: 'TXT', value: 'x'.repeat(2048), ttl: 60 })) });
  const fits = buildResponse(txt(30), request('big.udns.test', TYPE.TXT)).packet!;
  const bytes = encodeMessage(fits, MAX_TCP_MESSAGE_SIZE)!;
  expect(bytes.length).toBeGreaterThan(60_000);
  expect(Packet.parse(bytes).answers).toHaveLength(30);
  expect(bytes.toString('hex')).toBe(fits.toBuffer().toString('hex'));
  const tooBig = buildResponse(txt(50), request('big.udns.test', TYPE.TXT)).packet!;
  expect(encodeMessage(tooBig, 200_000)).toBeNull();
});

test('an IPv6 address with an IPv4 tail is written right (dns2 mangles it)', () => {
  const mapped: ZoneView = { ...zone, recordsAt: () => [{ type: 'AAAA', value: '::ffff:192.0.2.1', ttl: 60 }] };
  const response = buildResponse(mapped, request('m.udns.test', TYPE.AAAA)).packet!;
  const bytes = encodeMessage(response, 512)!;
  expect(bytes.subarray(-16).toString('hex')).toBe('00000000000000000000ffffc0000201');
  expect(response.toBuffer().subarray(-16).toString('hex')).not.toBe('00000000000000000000ffffc0000201');
});

test('a record it cannot encode throws, naming the problem', () => {
  const broken: ZoneView = { ...zone, recordsAt: () => [{ type: 'A', value: 'not-an-address', ttl: 60 }] };
  const response = buildResponse(broken, request('bad.udns.test', TYPE.A)).packet!;
  expect(() => encodeMessage(response, 512)).toThrow(/invalid IPv4 address "not-an-address"/);
});

test('echoes any question dns2 decodes, byte for byte', () => {
  for (let i = 0; i < 2000; i++) {
    // A question name of random bytes in random labels: what a hostile client may send.
    // (Not '.', which dns2's decoded string cannot tell from a label boundary.)
    const labels = Array.from({ length: 1 + (i % 4) }, () => randomBytes(1 + (i % 40)).map((byte) => (byte === 0x2e ? 0x2d : byte)));
    const wire = Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0, 0, 1, 0, 1])]);
    const parsed = Packet.parse(wire);
    expect(parsed.errors).toEqual([]);
    const response = buildResponse(zone, parsed).packet!;
    const bytes = encodeMessage(response, 512)!;
    const questionEnd = wire.length;
    // Same question section; only the header's flags differ.
    expect(bytes.subarray(12, questionEnd).toString('hex')).toBe(wire.subarray(12).toString('hex'));
  }
});
