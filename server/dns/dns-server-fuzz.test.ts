import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import dns2 from 'dns2';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DnsFuzzer, frame, validQuery as makeQuery } from '../../test/helpers/dns-fuzz.js';
import { startDnsServer, type DnsServerHandle } from './dns-server.js';
import type { MemberRecord, ZoneView } from './zone.js';

const { Packet } = dns2;
const run = promisify(execFile);

const SEED = Number(process.env.DNS_FUZZ_SEED ?? 20261125);

// The generator lives in test/helpers (the edge-process fuzz in test/e2e/dns-fuzz.test.ts uses it
// too): mutations of real queries, compression loops, huge labels, EDNS options, responses, junk.
const fuzz = new DnsFuzzer(SEED, 'udns.test');
const int = (max: number): number => fuzz.int(max);
const bytes = (length: number): Buffer => fuzz.bytes(length);
const validQuery = (id: number): Buffer => makeQuery(id, 'alice.udns.test');
const fuzzPacket = (): Buffer => fuzz.next().packet;

const logLines: Array<{ level: number; msg: string }> = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  }),
);
const records: Record<string, MemberRecord[]> = {
  // ~4.4 kB of TXT, so that mutated queries exercise truncation at every advertised size.
  'big.alice': Array.from({ length: 40 }, (_, i) => ({ type: 'TXT', value: `${i}`.padStart(100, 'x'), ttl: 60 })),
  'www.alice': [{ type: 'CNAME', value: 'alice.udns.test', ttl: 60 }],
};
const zone: ZoneView = {
  domain: 'udns.test',
  publicIp: '203.0.113.7',
  isClaimed: (label) => label === 'alice',
  serial: () => 1,
  recordsAt: (owner) => records[owner] ?? [],
};
let server: DnsServerHandle;
beforeAll(async () => {
  // Rate limiting on, loopback included, but far above what the fuzzing sends: its code runs
  // on every packet without refusing any.
  const rateLimit = { responsesPerSecond: 1_000_000, burst: 1_000_000, exemptLoopback: false };
  server = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger, rateLimit });
});
afterAll(() => server?.close());

async function udpClient(onMessage: (message: Buffer) => void): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', onMessage);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/** Sends one valid query over UDP and resolves with the decoded answer. */
async function udpQuery(id: number): Promise<dns2.Packet> {
  let resolveAnswer!: (packet: dns2.Packet) => void;
  const answer = new Promise<dns2.Packet>((resolve) => (resolveAnswer = resolve));
  const socket = await udpClient((message) => {
    const packet = Packet.parse(message);
    if (packet.header.id === id) resolveAnswer(packet);
  });
  try {
    socket.send(validQuery(id), server.udpPort, '127.0.0.1');
    return await answer;
  } finally {
    socket.close();
  }
}

function expectHealthy(answer: dns2.Packet): void {
  expect(answer.header).toMatchObject({ qr: 1, aa: 1, rcode: Packet.RCODE.NOERROR });
  expect(answer.answers).toMatchObject([{ name: 'alice.udns.test', ttl: 60, address: '203.0.113.7' }]);
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test(`thousands of malformed UDP packets neither crash nor wedge the server (seed ${SEED})`, async () => {
  const responses: Buffer[] = [];
  const socket = await udpClient((message) => responses.push(message));
  for (let batch = 0; batch < 40; batch++) {
    for (let i = 0; i < 100; i++) socket.send(fuzzPacket(), server.udpPort, '127.0.0.1');
    await settle(2);
  }
  await settle(200);
  socket.close();

  expect(responses.length).toBeGreaterThan(500);
  const rcodes = new Set<number>();
  for (const message of responses) {
    const parsed = Packet.parse(message);
    expect(parsed.header.qr, message.toString('hex')).toBe(1);
    expect(parsed.errors, message.toString('hex')).toEqual([]);
    expect(message.length, message.toString('hex')).toBeLessThanOrEqual(1232);
    rcodes.add(parsed.header.rcode);
  }
  // The mix reached every kind of answer, not just one error path.
  const { FORMERR, NOTIMP, NOERROR, NXDOMAIN, REFUSED } = Packet.RCODE;
  expect([...rcodes]).toEqual(expect.arrayContaining([FORMERR, NOTIMP, NOERROR, NXDOMAIN, REFUSED]));
  expect(logLines.filter((line) => line.level >= 40)).toEqual([]);
  expectHealthy(await udpQuery(0x1234));
});

test('responses (QR=1) are never answered', async () => {
  const responses: Buffer[] = [];
  const socket = await udpClient((message) => responses.push(message));
  for (let i = 0; i < 50; i++) {
    const reflected = validQuery(0x2000 + i);
    reflected[2] = reflected[2]! | 0x80;
    socket.send(reflected, server.udpPort, '127.0.0.1');
  }
  socket.send(validQuery(0x3000), server.udpPort, '127.0.0.1');
  await settle(200);
  socket.close();
  expect(responses.map((message) => Packet.parse(message).header.id)).toEqual([0x3000]);
});

/** Opens a TCP connection, writes `chunks`, and collects whatever comes back until it closes. */
function tcpSession(chunks: Buffer[], end: 'end' | 'destroy' | 'keep'): Promise<Buffer> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = net.connect(server.tcpPort, '127.0.0.1', () => {
      for (const chunk of chunks) socket.write(chunk);
      if (end === 'end') socket.end();
      if (end === 'destroy') setTimeout(() => socket.destroy(), 20);
      if (end === 'keep') setTimeout(() => socket.end(), 150);
    });
    socket.on('data', (data) => received.push(data));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(received)));
  });
}

function unframe(stream: Buffer): dns2.Packet[] {
  const packets: dns2.Packet[] = [];
  for (let offset = 0; offset + 2 <= stream.length; ) {
    const length = stream.readUInt16BE(offset);
    packets.push(Packet.parse(stream.subarray(offset + 2, offset + 2 + length)));
    offset += 2 + length;
  }
  return packets;
}

test('malformed TCP streams neither crash the server nor break pipelining', async () => {
  const sessions: Array<Promise<Buffer>> = [];
  for (let i = 0; i < 60; i++) {
    const kind = i % 5;
    if (kind === 0) sessions.push(tcpSession([frame(fuzzPacket()), frame(fuzzPacket())], 'end'));
    if (kind === 1) sessions.push(tcpSession([bytes(1 + int(300))], 'destroy'));
    if (kind === 2) sessions.push(tcpSession([Buffer.from([0xff, 0xff]), bytes(int(100))], 'end'));
    if (kind === 3) sessions.push(tcpSession([Buffer.from([0, 0])], 'end'));
    if (kind === 4) sessions.push(tcpSession([frame(validQuery(7)).subarray(0, 9)], 'end'));
  }
  await Promise.all(sessions);

  // Pipelined valid queries all get their answers, with junk between them that has a header
  // to answer to (a frame too short for one, or a response, closes the connection on purpose).
  const junk = (): Buffer => {
    const packet = Buffer.concat([fuzzPacket(), bytes(12)]);
    packet[2] = packet[2]! & 0x7f;
    return packet;
  };
  const chunks: Buffer[] = [];
  for (let id = 100; id < 120; id++) chunks.push(frame(validQuery(id)), frame(junk()));
  const answers = unframe(await tcpSession([Buffer.concat(chunks)], 'keep'));
  const ids = new Set(answers.map((answer) => answer.header.id));
  for (let id = 100; id < 120; id++) expect(ids.has(id), `answer to ${id}`).toBe(true);
  for (const answer of answers.filter((a) => a.header.id >= 100 && a.header.id < 120)) expectHealthy(answer);

  expect(logLines.filter((line) => line.level >= 40)).toEqual([]);
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.tcpPort), '+tcp', '+time=2', '+tries=1', '+short', 'alice.udns.test']);
  expect(stdout.trim()).toBe('203.0.113.7');
  expectHealthy(await udpQuery(0x4321));
});

test('a response (QR=1) sent over TCP closes the connection instead of pinning it for 10 s', async () => {
  const reflected = validQuery(0x5000);
  reflected[2] = reflected[2]! | 0x80;
  const started = Date.now();
  const answers = unframe(await tcpSession([frame(validQuery(0x5001)), frame(reflected)], 'end'));
  expect(Date.now() - started).toBeLessThan(5000); // dns2 alone takes 10 s: the margin is for a loaded machine
  expect(answers.map((answer) => answer.header.id)).toEqual([0x5001]);
});
