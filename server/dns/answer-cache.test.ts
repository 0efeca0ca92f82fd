import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import dns2 from 'dns2';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DnsFuzzer } from '../../test/helpers/dns-fuzz.js';
import { ChallengeRecords } from '../acme/challenge-records.js';
import { NameDirectory } from '../name-directory.js';
import { AnswerCache } from './answer-cache.js';
import { startDnsServer, type DnsServerHandle, type DnsServerOptions } from './dns-server.js';
import { RecordingZone } from './zone-reads.js';
import { answerQuestion, type MemberRecord, type ZoneView } from './zone.js';

const { Packet } = dns2;
const { TYPE } = Packet;
const DOMAIN = 'udns.test';

interface QueryOptions {
  id?: number;
  /** OPT record advertising this UDP size; none when left out. */
  edns?: number;
  dnssecOk?: boolean;
  rd?: boolean;
}

/** A query written byte by byte, so the name goes out exactly as spelled (case included). */
function query(name: string, type: number, options: QueryOptions = {}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? 0x1234, 0);
  header.writeUInt16BE(options.rd === false ? 0 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(options.edns === undefined ? 0 : 1, 10);
  const labels = name.split('.').flatMap((label) => [Buffer.from([label.length]), Buffer.from(label, 'latin1')]);
  const question = Buffer.concat([...labels, Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
  if (options.edns === undefined) return Buffer.concat([header, question]);
  const opt = Buffer.alloc(11);
  opt.writeUInt16BE(TYPE.EDNS, 1);
  opt.writeUInt16BE(options.edns, 3);
  opt.writeUInt16BE(options.dnssecOk === true ? 0x8000 : 0, 7);
  return Buffer.concat([header, question, opt]);
}

/** Sends `message` over UDP; resolves with the reply, or null when none comes within `waitMs`. */
async function ask(port: number, message: Buffer, waitMs = 3000): Promise<Buffer | null> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer | null>((resolve, reject) => {
      const timer = setTimeout(() => resolve(null), waitMs);
      socket.on('error', reject);
      socket.on('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function answer(port: number, message: Buffer): Promise<Buffer> {
  const reply = await ask(port, message);
  if (reply === null) throw new Error(`no answer from port ${port}`);
  return reply;
}

/** The 'dns query' debug lines a server logged. */
function queryLog(): { lines: Array<{ msg: string; cached?: boolean }>; logger: pino.Logger } {
  const lines: Array<{ msg: string; cached?: boolean }> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    }),
  );
  return { lines, logger };
}

/**
 * The edge's zone, built as server/edge.ts builds it: the name directory that the zone editor
 * (API, dynamic DNS updates), the tunnel registry and direct-mode checks change, the ACME
 * challenge values, and the CAA set a config reload swaps.
 */
function edgeZone(directory: NameDirectory, challenges: ChallengeRecords, config: { caa: string[] }): ZoneView {
  return {
    domain: DOMAIN,
    publicIp: '203.0.113.7',
    publicIp6: '2001:db8::7',
    isClaimed: (label) => directory.isClaimed(label),
    serial: () => directory.serial(),
    get caa() {
      return config.caa;
    },
    recordsAt: (owner) => {
      const pending = challenges.recordsAt(owner);
      return pending.length === 0 ? directory.zoneRecordsAt(owner) : [...directory.zoneRecordsAt(owner), ...pending];
    },
    hasRecordsBelow: (owner) => directory.hasRecordsBelow(owner),
  };
}

const record = (type: MemberRecord['type'], value: string, ttl = 60): MemberRecord => ({ type, value, ttl });

describe('answers from the cache stay what the zone says', () => {
  let directory: NameDirectory;
  let challenges: ChallengeRecords;
  let config: { caa: string[] };
  let cached: DnsServerHandle;
  let uncached: DnsServerHandle;
  let log: ReturnType<typeof queryLog>;

  beforeEach(async () => {
    directory = new NameDirectory(['alice', 'bob'], [
      { owner: 'alice', type: 'TXT', value: 'v=spf1 -all', ttl: 60 },
      { owner: 'www.alice', type: 'CNAME', value: `alice.${DOMAIN}`, ttl: 60 },
      // ~900 bytes of TXT: fits 1232, not 512.
      ...Array.from({ length: 8 }, (_, i) => ({ owner: 'big.alice', type: 'TXT' as const, value: `${i}`.padStart(100, 'x'), ttl: 60 })),
    ]);
    challenges = new ChallengeRecords();
    config = { caa: ['0 issue "letsencrypt.org"'] };
    const zone = edgeZone(directory, challenges, config);
    log = queryLog();
    cached = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: log.logger });
    uncached = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), answerCache: false });
  });
  afterEach(async () => {
    await cached?.close();
    await uncached?.close();
  });

  const hits = (): number => log.lines.filter((line) => line.msg === 'dns query' && line.cached === true).length;

  /** Asks the caching server twice (the second from its cache) and checks both against the uncaching one. */
  async function cachedAnswer(message: Buffer): Promise<dns2.Packet> {
    const expected = await answer(uncached.udpPort, message);
    expect(await answer(cached.udpPort, message)).toEqual(expected);
    const before = hits();
    expect(await answer(cached.udpPort, message)).toEqual(expected);
    expect(hits(), 'the second answer came from the cache').toBe(before + 1);
    return Packet.parse(expected);
  }

  /** After a change: the caching server answers what the zone now says, byte for byte. */
  async function freshAnswer(message: Buffer): Promise<dns2.Packet> {
    const expected = await answer(uncached.udpPort, message);
    expect(await answer(cached.udpPort, message)).toEqual(expected);
    return Packet.parse(expected);
  }

  const values = (packet: dns2.Packet, section: 'answers' | 'authorities' = 'answers'): string[] =>
    packet[section].map((r) => `${Packet.typeName(r.type)} ${r.address ?? r.domain ?? (r.data as string[] | undefined)?.join('') ?? r.value ?? r.serial ?? ''}`);

  test('a hit carries the asker\'s ID and the case of its name (0x20), also through pointers into the question', async () => {
    for (const [name, type] of [
      [`alice.${DOMAIN}`, TYPE.A], [`nosuch.${DOMAIN}`, TYPE.A], [`www.alice.${DOMAIN}`, TYPE.A], [DOMAIN, TYPE.SOA], [DOMAIN, TYPE.NS],
    ] as const) {
      await cachedAnswer(query(name, type, { id: 1, edns: 1232 }));
      for (const spelling of [name.toUpperCase(), name.replace(/[aeiou]/g, (c) => c.toUpperCase())]) {
        const variant = query(spelling, type, { id: 0xbeef, edns: 1232 });
        const before = hits();
        const reply = await answer(cached.udpPort, variant);
        expect(hits(), `${spelling} came from the cache`).toBe(before + 1);
        expect(reply).toEqual(await answer(uncached.udpPort, variant));
        expect(reply.readUInt16BE(0)).toBe(0xbeef);
        expect(Packet.parse(reply).questions[0]!.name).toBe(spelling);
      }
    }
  });

  test('EDNS size, DO bit and RD are part of the key: truncation and OPT differ, each variant gets its own answer', async () => {
    const name = `big.alice.${DOMAIN}`;
    const variants = [
      query(name, TYPE.TXT), query(name, TYPE.TXT, { edns: 512 }), query(name, TYPE.TXT, { edns: 1232 }),
      query(name, TYPE.TXT, { edns: 4096, dnssecOk: true }), query(name, TYPE.TXT, { edns: 1232, rd: false }),
    ];
    const replies = [];
    for (const variant of variants) replies.push(await cachedAnswer(variant));
    // Asked again in another order, still each its own.
    for (const variant of [...variants].reverse()) await freshAnswer(variant);
    expect(replies.map((reply) => reply.header.tc)).toEqual([1, 1, 0, 0, 0]);
    expect(replies.map((reply) => reply.additionals.length)).toEqual([0, 1, 1, 1, 1]);
    expect(replies[3]!.additionals[0]!.doFlag).toBe(true);
    expect(replies[4]!.header.rd).toBe(0);
  });

  test('records a member sets (API, dynamic DNS update) show at once', async () => {
    const message = query(`alice.${DOMAIN}`, TYPE.A, { edns: 1232 });
    expect(values(await cachedAnswer(message))).toEqual(['A 203.0.113.7']);
    directory.setRecordsAt('alice', [record('A', '198.51.100.1'), record('TXT', 'v=spf1 -all')]);
    expect(values(await freshAnswer(message))).toEqual(['A 198.51.100.1']);
    directory.setRecordsAt('alice', [record('A', '198.51.100.2'), record('TXT', 'v=spf1 -all')]);
    expect(values(await freshAnswer(message))).toEqual(['A 198.51.100.2']);
  });

  test('records a member removes go at once, and a TTL change alone is seen', async () => {
    const message = query(`alice.${DOMAIN}`, TYPE.TXT);
    expect(values(await cachedAnswer(message))).toEqual(['TXT v=spf1 -all']);
    directory.setRecordsAt('alice', [record('TXT', 'v=spf1 -all', 300)]);
    expect((await freshAnswer(message)).answers[0]!.ttl).toBe(300);
    await cachedAnswer(message);
    directory.setRecordsAt('alice', []);
    const after = await freshAnswer(message);
    expect(after.answers).toEqual([]);
    expect(values(after, 'authorities')).toEqual([`SOA ${directory.serial()}`]);
  });

  test('a name claimed exists at once, a name released is NXDOMAIN at once, its sub-names too', async () => {
    const carol = query(`carol.${DOMAIN}`, TYPE.A);
    expect((await cachedAnswer(carol)).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    directory.add('carol');
    expect(values(await freshAnswer(carol))).toEqual(['A 203.0.113.7']);

    const www = query(`www.alice.${DOMAIN}`, TYPE.A);
    expect(values(await cachedAnswer(www))).toEqual([`CNAME alice.${DOMAIN}`, 'A 203.0.113.7']);
    directory.remove('alice');
    expect((await freshAnswer(www)).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    expect((await freshAnswer(query(`alice.${DOMAIN}`, TYPE.A))).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });

  test('a CNAME\'s target changing changes the chased answer', async () => {
    const www = query(`www.alice.${DOMAIN}`, TYPE.A, { edns: 1232 });
    await cachedAnswer(www);
    directory.setRecordsAt('alice', [record('A', '198.51.100.77')]);
    expect(values(await freshAnswer(www))).toEqual([`CNAME alice.${DOMAIN}`, 'A 198.51.100.77']);
    directory.setRecordsAt('www.alice', [record('CNAME', `bob.${DOMAIN}`)]);
    expect(values(await freshAnswer(www))).toEqual([`CNAME bob.${DOMAIN}`, 'A 203.0.113.7']);
  });

  test('direct mode pointing a name at its agent, and back, shows at once', async () => {
    const message = query(`bob.${DOMAIN}`, TYPE.A, { edns: 1232 });
    await cachedAnswer(message);
    directory.setDirectAddress('bob', 'route-1', '192.0.2.55');
    expect(values(await freshAnswer(message))).toEqual(['A 192.0.2.55']);
    await cachedAnswer(message);
    directory.clearDirectAddress('bob', 'route-1');
    expect(values(await freshAnswer(message))).toEqual(['A 203.0.113.7']);
  });

  test('ACME challenge values appear and go at once (they do not move the serial)', async () => {
    const message = query(`_acme-challenge.${DOMAIN}`, TYPE.TXT, { edns: 1232 });
    expect((await cachedAnswer(message)).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    const serial = directory.serial();
    challenges.add('token-one');
    expect(directory.serial()).toBe(serial);
    expect(values(await freshAnswer(message))).toEqual(['TXT token-one']);
    await cachedAnswer(message);
    challenges.add('token-two');
    expect(values(await freshAnswer(message))).toEqual(['TXT token-one', 'TXT token-two']);
    challenges.remove('token-one');
    challenges.remove('token-two');
    expect((await freshAnswer(message)).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });

  test('a config reload changing CAA shows at once', async () => {
    const message = query(DOMAIN, TYPE.CAA, { edns: 1232 });
    expect(values(await cachedAnswer(message))).toEqual(['CAA letsencrypt.org']);
    config.caa = ['0 issue "ca.example"'];
    expect(values(await freshAnswer(message))).toEqual(['CAA ca.example']);
  });

  test('a record below a name turns its empty non-terminal from NXDOMAIN into NODATA at once', async () => {
    const message = query(`_domainkey.alice.${DOMAIN}`, TYPE.TXT, { edns: 1232 });
    expect((await cachedAnswer(message)).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    directory.setRecordsAt('sel._domainkey.alice', [record('TXT', 'v=DKIM1; p=')]);
    const after = await freshAnswer(message);
    expect(after.header.rcode).toBe(Packet.RCODE.NOERROR);
    expect(after.answers).toEqual([]);
  });

  test('the SOA serial in answers follows every change', async () => {
    const soa = query(DOMAIN, TYPE.SOA, { edns: 1232 });
    const negative = query(`nosuch.${DOMAIN}`, TYPE.A, { edns: 1232 });
    await cachedAnswer(soa);
    await cachedAnswer(negative);
    directory.add('dave');
    expect(values(await freshAnswer(soa))).toEqual([`SOA ${directory.serial()}`]);
    expect(values(await freshAnswer(negative), 'authorities')).toEqual([`SOA ${directory.serial()}`]);
  });
});

test('a zone that changes the arrays it handed out, in place, is still seen to change', async () => {
  const records: Record<string, MemberRecord[]> = { alice: [record('TXT', 'one')] };
  const zone: ZoneView = { domain: DOMAIN, publicIp: '203.0.113.7', isClaimed: (label) => label === 'alice', serial: () => 1, recordsAt: (owner) => records[owner] ?? [] };
  const server = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }) });
  try {
    const message = query(`alice.${DOMAIN}`, TYPE.TXT);
    await answer(server.udpPort, message);
    records.alice![0]!.value = 'two';
    records.alice!.push(record('TXT', 'three'));
    const reply = Packet.parse(await answer(server.udpPort, message));
    expect(reply.answers.map((r) => (r.data as string[]).join(''))).toEqual(['two', 'three']);
  } finally {
    await server.close();
  }
});

test('rate limiting stays in front of the cache: cached answers are refused and slipped like any other', async () => {
  const zone = edgeZone(new NameDirectory(['alice']), new ChallengeRecords(), { caa: [] });
  const rateLimit: DnsServerOptions['rateLimit'] = { burst: 3, responsesPerSecond: 1, slip: 2, exemptLoopback: false };
  const withCache = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), rateLimit, clock: () => 0 });
  const without = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), rateLimit, clock: () => 0, answerCache: false });
  try {
    const message = query(`alice.${DOMAIN}`, TYPE.A);
    const outcomes = async (port: number): Promise<string[]> => {
      const seen: string[] = [];
      for (let i = 0; i < 7; i++) {
        const reply = await ask(port, message, 300);
        seen.push(reply === null ? 'dropped' : Packet.parse(reply).header.tc === 1 ? 'slipped' : 'answered');
      }
      return seen;
    };
    const expected = ['answered', 'answered', 'answered', 'dropped', 'slipped', 'dropped', 'slipped'];
    expect(await outcomes(without.udpPort)).toEqual(expected);
    expect(await outcomes(withCache.udpPort)).toEqual(expected);
  } finally {
    await withCache.close();
    await without.close();
  }
});

describe('the cache stays within its bounds', () => {
  const zone = edgeZone(new NameDirectory(['alice']), new ChallengeRecords(), { caa: [] });
  /** Builds and encodes the answer to `message` as the server does, with the reads it made. */
  function built(message: Buffer): { response: Buffer; reads: RecordingZone['reads'] } {
    const recorder = new RecordingZone(zone);
    const question = Packet.parse(message).questions[0]!;
    const result = answerQuestion(recorder, question);
    const response = new Packet();
    response.header = new Packet.Header({ id: message.readUInt16BE(0), qr: 1, aa: 1, rd: 1, rcode: result.rcode });
    response.questions = [question];
    response.authorities = result.authorities as dns2.Packet.Resource[];
    return { response: response.toBuffer(), reads: recorder.reads };
  }

  test('by entries: never more than maxEntries, and an answer in use outlives a flood of new names', () => {
    const cache = new AnswerCache({ maxEntries: 50, maxBytes: 1024 * 1024 });
    const hot = query(`alice.${DOMAIN}`, TYPE.A);
    const { response, reads } = built(hot);
    cache.remember(hot, response, reads);
    for (let i = 0; i < 5000; i++) {
      const flood = query(`random${i}.${DOMAIN}`, TYPE.A);
      const answerToFlood = built(flood);
      cache.remember(flood, answerToFlood.response, answerToFlood.reads);
      if (i % 10 === 0) expect(cache.answer(hot, zone), `hot answer after ${i} flood names`).not.toBeNull();
      expect(cache.size).toBeLessThanOrEqual(50);
    }
    expect(cache.size).toBe(50);
  });

  test('by bytes: never more than maxBytes, and an answer bigger than the whole cache is not kept', () => {
    const cache = new AnswerCache({ maxEntries: 100_000, maxBytes: 8 * 1024 });
    for (let i = 0; i < 500; i++) {
      const message = query(`name${i}.${DOMAIN}`, TYPE.A);
      const { response, reads } = built(message);
      cache.remember(message, response, reads);
      expect(cache.bytes).toBeLessThanOrEqual(8 * 1024);
    }
    expect(cache.size).toBeGreaterThan(10);
    const message = query(`alice.${DOMAIN}`, TYPE.A);
    const { reads } = built(message);
    const huge = Buffer.concat([message, Buffer.alloc(9000)]);
    cache.clear();
    cache.remember(message, huge, reads);
    expect(cache.size).toBe(0);
  });

  test('UDP and TCP entries are kept apart: one transport never gets the other\'s answer', () => {
    const cache = new AnswerCache({ maxEntries: 100, maxBytes: 1024 * 1024 });
    const message = query(`alice.${DOMAIN}`, TYPE.A);
    const { response, reads } = built(message);
    const udpOnly = Buffer.from(response);
    udpOnly[2] = udpOnly[2]! | 0x02; // as if truncated for a UDP client's size
    cache.remember(message, udpOnly, reads, 'udp');
    expect(cache.answer(message, zone, 'tcp')).toBeNull();
    cache.remember(message, response, reads, 'tcp');
    expect(cache.answer(message, zone, 'tcp')).toEqual(response);
    expect(cache.answer(message, zone, 'udp')).toEqual(udpOnly);
    expect(cache.answer(message, zone)).toEqual(udpOnly);
    expect(cache.size).toBe(2);
  });

  test('a server with a tiny cache still answers everything right', async () => {
    const log = queryLog();
    const server = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: log.logger, answerCache: { maxEntries: 2 } });
    const plain = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), answerCache: false });
    try {
      for (let round = 0; round < 3; round++) {
        for (const name of ['alice', 'bob', 'carol', 'alice', 'alice']) {
          const message = query(`${name}.${DOMAIN}`, TYPE.A, { id: round });
          expect(await answer(server.udpPort, message)).toEqual(await answer(plain.udpPort, message));
        }
      }
      expect(log.lines.some((line) => line.cached === true)).toBe(true);
    } finally {
      await server.close();
      await plain.close();
    }
  });
});

const SEED = Number(process.env.DNS_FUZZ_SEED ?? 20261202);

/** `message` with the letters of its question's name (when it has a plain one) in random case. */
function withRandomCase(message: Buffer, fuzz: DnsFuzzer): Buffer {
  const copy = Buffer.from(message);
  for (let at = 12; at < copy.length; ) {
    const length = copy[at]!;
    if (length === 0 || length > 63) break;
    for (let i = at + 1; i <= at + length && i < copy.length; i++) {
      const byte = copy[i]!;
      if (((byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)) && fuzz.int(2) === 1) copy[i] = byte ^ 0x20;
    }
    at += length + 1;
  }
  return copy;
}

test(`fuzzed queries, their repeats and case variants get the very bytes an uncached server sends (seed ${SEED})`, async () => {
  const records: Record<string, MemberRecord[]> = {
    'big.alice': Array.from({ length: 40 }, (_, i) => record('TXT', `${i}`.padStart(100, 'x'))),
    'www.alice': [record('CNAME', `alice.${DOMAIN}`)],
  };
  const zone: ZoneView = { domain: DOMAIN, publicIp: '203.0.113.7', isClaimed: (label) => label === 'alice', serial: () => 1, recordsAt: (owner) => records[owner] ?? [] };
  const log = queryLog();
  const withCache = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: log.logger });
  const without = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger: pino({ level: 'silent' }), answerCache: false });
  const fuzz = new DnsFuzzer(SEED, DOMAIN);
  // Each server answers in the order it receives: replies between two markers belong to the
  // packets sent between them (a dropped packet has none).
  const marker = (id: number): Buffer => query(`marker.${DOMAIN}`, TYPE.A, { id });
  const isMarker = (reply: Buffer): boolean => reply.length > 30 && reply.includes(Buffer.from('marker'));
  const collect = async (port: number, packets: Buffer[][]): Promise<Buffer[][]> => {
    const socket = dgram.createSocket('udp4');
    let replies: Buffer[] = [];
    let markerIn: (() => void) | undefined;
    socket.on('message', (reply) => {
      if (isMarker(reply)) markerIn?.();
      else replies.push(reply);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const groups: Buffer[][] = [];
    try {
      // One group in flight at a time: nothing is lost to a full socket buffer on a busy machine.
      for (const [index, group] of packets.entries()) {
        replies = [];
        const marked = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no marker answer after ${group.map((p) => p.toString('hex')).join(' ')}`)), 5000);
          markerIn = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        for (const packet of group) socket.send(packet, port, '127.0.0.1');
        socket.send(marker(index), port, '127.0.0.1');
        await marked;
        groups.push(replies);
      }
      return groups;
    } finally {
      socket.close();
    }
  };
  try {
    const packets = Array.from({ length: 600 }, () => fuzz.next().packet);
    const variants = packets.map((packet) => withRandomCase(packet, fuzz));
    const plain = await collect(without.udpPort, packets.map((packet, i) => [packet, variants[i]!]));
    const viaCache = await collect(withCache.udpPort, packets.map((packet, i) => [packet, packet, variants[i]!]));
    let compared = 0;
    for (const [i, expected] of plain.entries()) {
      const got = viaCache[i]!;
      const context = packets[i]!.toString('hex');
      if (expected.length === 0) {
        expect(got, context).toEqual([]);
        continue;
      }
      expect(expected.length, context).toBe(2);
      expect(got, context).toEqual([expected[0], expected[0], expected[1]]);
      compared++;
    }
    expect(compared).toBeGreaterThan(300);
    expect(log.lines.filter((line) => line.cached === true).length).toBeGreaterThan(100);
  } finally {
    await withCache.close();
    await without.close();
  }
});
