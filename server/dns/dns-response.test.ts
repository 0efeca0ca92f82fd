import { randomBytes } from 'node:crypto';
import dns2 from 'dns2';
import { describe, expect, test } from 'vitest';
import {
  buildResponse,
  EDNS_UDP_PAYLOAD_SIZE,
  encodeWithin,
  MAX_TCP_MESSAGE_SIZE,
  servfailFor,
  truncatedResponse,
  udpResponseLimit,
} from './dns-response.js';
import type { MemberRecord, ZoneView } from './zone.js';

const { Packet } = dns2;
const { TYPE, CLASS, RCODE } = Packet;

const zone: ZoneView = {
  domain: 'udns.test',
  publicIp: '203.0.113.7',
  isClaimed: (label) => label === 'alice',
  serial: () => 7,
  recordsAt: (owner) => records[owner] ?? [],
};
/** `big` has 40 TXT records of 100 bytes: ~4.4 kB, more than any UDP response we send. */
const records: Record<string, MemberRecord[]> = {
  big: Array.from({ length: 40 }, (_, i) => ({ type: 'TXT', value: `${i}`.padStart(100, 'x'), ttl: 60 })),
  mid: Array.from({ length: 8 }, (_, i) => ({ type: 'TXT', value: `${i}`.padStart(100, 'y'), ttl: 60 })),
};

interface QueryShape {
  id?: number;
  /** UDP size advertised in the OPT (default 4096). */
  udpSize?: number;
  qr?: 0 | 1;
  opcode?: number;
  questions?: Array<[string, number]>;
  opt?: { version?: number; doFlag?: boolean; name?: string };
  opts?: number;
}

function queryBytes(shape: QueryShape): Buffer {
  const packet = new Packet();
  packet.header = new Packet.Header({ id: shape.id ?? 4242, qr: shape.qr ?? 0, opcode: shape.opcode ?? 0, rd: 1 });
  packet.questions = (shape.questions ?? [['alice.udns.test', TYPE.A]]).map(([name, type]) => new Packet.Question(name, type, CLASS.IN));
  for (let i = 0; i < (shape.opts ?? (shape.opt ? 1 : 0)); i++) {
    const opt = Packet.Resource.EDNS([], { udpPayloadSize: shape.udpSize ?? 4096, version: shape.opt?.version ?? 0, doFlag: shape.opt?.doFlag ?? false });
    packet.additionals.push({ ...opt, name: shape.opt?.name ?? '' } as dns2.Packet.Resource);
  }
  return packet.toBuffer();
}

/** Request bytes → response as a client would decode it (or null when dropped). */
function exchange(request: Buffer): dns2.Packet | null {
  const built = buildResponse(zone, Packet.parse(request));
  return built.packet === null ? null : Packet.parse(encodeWithin(built.packet, MAX_TCP_MESSAGE_SIZE).bytes);
}

const optOf = (packet: dns2.Packet) => packet.additionals.filter((r) => r.type === TYPE.EDNS);

describe('well-formed queries', () => {
  test('answer authoritatively, echoing id, question and RD', () => {
    const response = exchange(queryBytes({ id: 777 }))!;
    expect(response.header).toMatchObject({ id: 777, qr: 1, opcode: 0, aa: 1, rd: 1, ra: 0, rcode: RCODE.NOERROR });
    expect(response.questions).toMatchObject([{ name: 'alice.udns.test', type: TYPE.A, class: CLASS.IN }]);
    expect(response.answers).toMatchObject([{ name: 'alice.udns.test', ttl: 60, address: '203.0.113.7' }]);
    expect(optOf(response)).toEqual([]);
  });

  test('an EDNS query gets an OPT advertising 1232 bytes, with DO copied', () => {
    const response = exchange(queryBytes({ opt: { doFlag: true } }))!;
    expect(response.header.rcode).toBe(RCODE.NOERROR);
    expect(optOf(response)).toMatchObject([{ name: '', class: EDNS_UDP_PAYLOAD_SIZE, version: 0, doFlag: true }]);
    const negative = exchange(queryBytes({ opt: {}, questions: [['nobody.udns.test', TYPE.A]] }))!;
    expect(negative.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(negative.authorities).toMatchObject([{ type: TYPE.SOA, serial: 7 }]);
    expect(optOf(negative)).toMatchObject([{ class: EDNS_UDP_PAYLOAD_SIZE, doFlag: false }]);
  });

  test('outside the zone is REFUSED without AA', () => {
    const response = exchange(queryBytes({ questions: [['example.com', TYPE.A]] }))!;
    expect(response.header).toMatchObject({ rcode: RCODE.REFUSED, aa: 0 });
  });
});

describe('requests that are not ordinary queries', () => {
  test('responses (QR=1) are dropped, never answered', () => {
    expect(buildResponse(zone, Packet.parse(queryBytes({ qr: 1 })))).toEqual({ kind: 'dropped', packet: null });
  });

  test('an opcode other than QUERY gets NOTIMP', () => {
    for (const opcode of [1, 2, 4, 5, 15]) {
      const response = exchange(queryBytes({ id: 9, opcode }))!;
      expect(response.header).toMatchObject({ id: 9, qr: 1, opcode, rcode: RCODE.NOTIMP });
    }
  });

  test('no question, or two, is FORMERR', () => {
    for (const questions of [[], [['alice.udns.test', TYPE.A], ['udns.test', TYPE.A]]] as Array<Array<[string, number]>>) {
      const response = exchange(queryBytes({ id: 10, questions }))!;
      expect(response.header).toMatchObject({ id: 10, qr: 1, rcode: RCODE.FORMERR });
      expect(response.questions).toEqual([]);
    }
  });

  test('a question cut short is FORMERR', () => {
    const whole = queryBytes({ id: 11 });
    for (let length = 12; length < whole.length; length++) {
      expect(exchange(whole.subarray(0, length))?.header, `length ${length}`).toMatchObject({ id: 11, rcode: RCODE.FORMERR });
    }
  });

  test('a compression loop in the question name is FORMERR', () => {
    // header (qdcount 1) + a name that is a pointer to itself at offset 12
    const request = Buffer.from([0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    expect(exchange(request)?.header).toMatchObject({ id: 12, rcode: RCODE.FORMERR });
  });

  test('two OPT records, or an OPT not owned by the root, is FORMERR with an OPT', () => {
    for (const shape of [{ opt: {}, opts: 2 }, { opt: { name: 'udns.test' } }]) {
      const response = exchange(queryBytes(shape))!;
      expect(response.header.rcode).toBe(RCODE.FORMERR);
      expect(optOf(response)).toHaveLength(1);
    }
  });

  test('EDNS version 1 gets BADVERS, its high bits carried in our OPT', () => {
    const response = exchange(queryBytes({ opt: { version: 1 } }))!;
    expect(response.header.rcode).toBe(RCODE.BADVERS);
    expect(optOf(response)).toMatchObject([{ version: 0, class: EDNS_UDP_PAYLOAD_SIZE }]);
  });

  test('servfailFor keeps only the id', () => {
    const response = Packet.parse(encodeWithin(servfailFor(Packet.parse(queryBytes({ id: 13 }))), 512).bytes);
    expect(response.header).toMatchObject({ id: 13, qr: 1, rcode: RCODE.SERVFAIL });
    expect(response.questions).toEqual([]);
  });
});

describe('response size', () => {
  const request = (shape: QueryShape) => Packet.parse(queryBytes(shape));

  test('UDP responses get the size the client advertised, between 512 and our 1232', () => {
    expect(udpResponseLimit(request({}))).toBe(512);
    expect(udpResponseLimit(request({ opt: {}, udpSize: 100 }))).toBe(512);
    expect(udpResponseLimit(request({ opt: {}, udpSize: 700 }))).toBe(700);
    expect(udpResponseLimit(request({ opt: {}, udpSize: 1232 }))).toBe(1232);
    expect(udpResponseLimit(request({ opt: {}, udpSize: 65535 }))).toBe(EDNS_UDP_PAYLOAD_SIZE);
  });

  const built = (name: string, type: number, opt = true) =>
    buildResponse(zone, request({ questions: [[name, type]], ...(opt ? { opt: {} } : {}) })).packet!;

  test('an answer that fits is sent whole', () => {
    const { bytes, truncated } = encodeWithin(built('mid.udns.test', TYPE.TXT), 1232);
    expect(truncated).toBe(false);
    expect(bytes.length).toBeGreaterThan(512);
    expect(Packet.parse(bytes).answers).toHaveLength(8);
  });

  test('an answer that does not fit becomes TC=1 with the question and OPT only', () => {
    for (const limit of [512, 1232]) {
      const { bytes, truncated } = encodeWithin(built('big.udns.test', TYPE.TXT), limit);
      expect(truncated).toBe(true);
      expect(bytes.length).toBeLessThanOrEqual(limit);
      const parsed = Packet.parse(bytes);
      expect(parsed.header).toMatchObject({ id: 4242, qr: 1, aa: 1, tc: 1, rcode: RCODE.NOERROR });
      expect(parsed.questions).toMatchObject([{ name: 'big.udns.test', type: TYPE.TXT }]);
      expect(parsed.answers).toEqual([]);
      expect(parsed.authorities).toEqual([]);
      expect(optOf(parsed)).toMatchObject([{ class: EDNS_UDP_PAYLOAD_SIZE }]);
    }
    const plain = Packet.parse(encodeWithin(built('big.udns.test', TYPE.TXT, false), 512).bytes);
    expect(plain.header.tc).toBe(1);
    expect(plain.additionals).toEqual([]);
  });

  test('over TCP the whole 4.4 kB answer goes out', () => {
    const { bytes, truncated } = encodeWithin(built('big.udns.test', TYPE.TXT), MAX_TCP_MESSAGE_SIZE);
    expect(truncated).toBe(false);
    expect(Packet.parse(bytes).answers).toHaveLength(40);
  });

  test('an answer over 65,535 bytes cannot go whole even over TCP: TC=1', () => {
    const huge: ZoneView = { ...zone, recordsAt: () => Array.from({ length: 50 }, () => ({ type: 'TXT', value: 'z'.repeat(2048), ttl: 60 })) };
    const response = buildResponse(huge, request({ questions: [['huge.udns.test', TYPE.TXT]] })).packet!;
    const { bytes, truncated } = encodeWithin(response, MAX_TCP_MESSAGE_SIZE);
    expect(truncated).toBe(true);
    expect(Packet.parse(bytes).header.tc).toBe(1);
  });

  test('additional records are dropped before anything is truncated, and without TC', () => {
    const ns = built('udns.test', TYPE.NS);
    const whole = encodeWithin(ns, MAX_TCP_MESSAGE_SIZE).bytes.length;
    const { bytes, truncated } = encodeWithin(ns, whole - 1);
    const parsed = Packet.parse(bytes);
    expect(truncated).toBe(false);
    expect(parsed.header.tc).toBe(0);
    expect(parsed.answers).toHaveLength(2);
    expect(parsed.additionals.map((r) => r.type)).toEqual([TYPE.EDNS]);
  });

  test('truncatedResponse keeps the header, rcode and OPT', () => {
    const negative = built('nobody.udns.test', TYPE.A);
    const parsed = Packet.parse(encodeWithin(truncatedResponse(negative), 512).bytes);
    expect(parsed.header).toMatchObject({ tc: 1, rcode: RCODE.NXDOMAIN, aa: 1 });
    expect(parsed.authorities).toEqual([]);
    expect(optOf(parsed)).toHaveLength(1);
  });
});

test('every response built for random or mutated bytes encodes', () => {
  const seeds = [
    queryBytes({}),
    queryBytes({ opt: { doFlag: true } }),
    queryBytes({ questions: [['udns.test', TYPE.NS]] }),
    queryBytes({ questions: [['big.udns.test', TYPE.TXT]], opt: {}, udpSize: 1232 }),
  ];
  let built = 0;
  for (let i = 0; i < 10_000; i++) {
    let bytes: Buffer;
    if (i % 2 === 0) {
      bytes = randomBytes(12 + (i % 80));
    } else {
      bytes = Buffer.from(seeds[i % seeds.length]!);
      for (let flips = 1 + (i % 4); flips > 0; flips--) bytes[(i * 7 + flips * 13) % bytes.length]! ^= 1 << (i % 8);
      bytes = bytes.subarray(0, Math.max(12, bytes.length - (i % 5)));
    }
    const response = buildResponse(zone, Packet.parse(bytes)).packet;
    if (response === null) continue;
    const request = Packet.parse(bytes);
    const limit = udpResponseLimit(request);
    const encoded = encodeWithin(response, limit);
    expect(encoded.bytes.length, bytes.toString('hex')).toBeLessThanOrEqual(limit);
    expect(Packet.parse(encoded.bytes).errors, bytes.toString('hex')).toEqual([]);
    built++;
  }
  expect(built).toBeGreaterThan(2_500);
});
