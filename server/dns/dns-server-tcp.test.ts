import dgram from 'node:dgram';
import net from 'node:net';
import { Writable } from 'node:stream';
import dns2 from 'dns2';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { eventually } from '../../test/helpers/eventually.js';
import { frame, unframe, validQuery } from '../../test/helpers/dns-fuzz.js';
import { startDnsServer, type DnsServerHandle, type DnsServerOptions } from './dns-server.js';
import { TCP_MESSAGES_PER_TURN, TcpMessageReader } from './tcp-reader.js';
import type { MemberRecord, ZoneView } from './zone.js';

/*
 * DNS over TCP read by our own framing (tcp-reader.ts): a connection pipelining thousands of
 * queries cannot hold the server, framing holds at every byte boundary, and TCP answers are
 * the UDP path's answers (whole, never a UDP-truncated cache entry).
 */

const { Packet } = dns2;

const records: Record<string, MemberRecord[]> = {
  // ~4.4 kB of TXT: truncated over UDP, whole over TCP.
  'big.alice': Array.from({ length: 40 }, (_, i) => ({ type: 'TXT', value: `${i}`.padStart(100, 'x'), ttl: 60 })),
};
const zone: ZoneView = {
  domain: 'udns.test',
  publicIp: '203.0.113.7',
  isClaimed: (label) => label === 'alice',
  serial: () => 1,
  recordsAt: (owner) => records[owner] ?? [],
};

interface LogLine { msg: string; transport?: string; id?: number; cached?: boolean }
const logLines: LogLine[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as LogLine);
      done();
    },
  }),
);

const servers: DnsServerHandle[] = [];
let server: DnsServerHandle;
async function start(extra: Partial<DnsServerOptions> = {}): Promise<DnsServerHandle> {
  const started = await startDnsServer({ zone, port: 0, bind: '127.0.0.1', logger, rateLimit: false, ...extra });
  servers.push(started);
  return started;
}
beforeAll(async () => {
  server = await start();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Connects, writes `bytes`, ends unless told to keep, and resolves with everything received once the server closes. */
function tcpSession(port: number, chunks: Buffer[], end = true): { done: Promise<Buffer>; socket: net.Socket } {
  const received: Buffer[] = [];
  const socket = net.connect(port, '127.0.0.1', () => {
    for (const chunk of chunks) socket.write(chunk);
    if (end) socket.end();
  });
  socket.on('data', (data: Buffer) => received.push(data));
  socket.on('error', () => {});
  const done = new Promise<Buffer>((resolve) => socket.on('close', () => resolve(Buffer.concat(received))));
  return { done, socket };
}

function udpAsk(port: number, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.on('error', reject);
    socket.on('message', (message) => {
      socket.close();
      resolve(message);
    });
    socket.send(query, port, '127.0.0.1');
  });
}

const tcpQueryLines = (): LogLine[] => logLines.filter((line) => line.msg === 'dns query' && line.transport === 'tcp');

test('a connection dropped with 9,999 queries still buffered handles none of them (dns2 went on with every one it had read)', async () => {
  const before = tcpQueryLines().length;
  // A response (QR=1) first: the server answers nothing to it and closes the connection.
  const reflected = validQuery(0x7000, 'alice.udns.test');
  reflected[2] = reflected[2]! | 0x80;
  const queries = Array.from({ length: 9_999 }, (_, i) => frame(validQuery(i, 'alice.udns.test')));
  const session = tcpSession(server.tcpPort, [Buffer.concat([frame(reflected), ...queries])], false);
  const received = await session.done;
  expect(unframe(received)).toEqual([]);
  // Something answered after the drop shows the server has had its turns since.
  expect(Packet.parse(await udpAsk(server.udpPort, validQuery(0x7001, 'alice.udns.test'))).header.id).toBe(0x7001);
  const handled = tcpQueryLines().length - before;
  expect(handled).toBe(1);
});

test('a UDP query is answered while one connection works through 10,000 pipelined queries', async () => {
  const start = tcpQueryLines().length;
  const queries = Array.from({ length: 10_000 }, (_, i) => frame(validQuery(i, 'alice.udns.test')));
  const session = tcpSession(server.tcpPort, [Buffer.concat(queries)]);
  const udpAnswer = udpAsk(server.udpPort, validQuery(0x7100, 'alice.udns.test'));
  expect(Packet.parse(await udpAnswer).header.id).toBe(0x7100);
  // How many TCP queries the server had handled when it answered the UDP one.
  const udpAt = logLines.findIndex((line) => line.msg === 'dns query' && line.transport === 'udp' && line.id === 0x7100);
  const tcpBefore = logLines.slice(0, udpAt).filter((line) => line.msg === 'dns query' && line.transport === 'tcp').length - start;
  expect(tcpBefore).toBeLessThan(10_000);
  const answers = unframe(await session.done);
  expect(answers).toHaveLength(10_000);
  expect(answers.map((answer) => answer.readUInt16BE(0))).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
});

test('a zero-length message drops the connection; what follows it is not answered', async () => {
  const answers = unframe(await tcpSession(server.tcpPort, [Buffer.concat([frame(validQuery(1, 'alice.udns.test')), Buffer.from([0, 0]), frame(validQuery(2, 'alice.udns.test'))])], false).done);
  expect(answers.map((answer) => answer.readUInt16BE(0))).toEqual([1]);
});

test('a length prefix promising more than arrives (0xffff) is never answered and the FIN closes the connection', async () => {
  const answers = unframe(await tcpSession(server.tcpPort, [frame(validQuery(3, 'alice.udns.test')), Buffer.from([0xff, 0xff]), validQuery(4, 'alice.udns.test')]).done);
  expect(answers.map((answer) => answer.readUInt16BE(0))).toEqual([3]);
  expect(logLines.some((line) => line.msg === 'undecodable dns message dropped' && line.transport === 'tcp')).toBe(true);
});

test('TCP answers are the UDP answers, whole: never a truncated UDP entry from the cache', async () => {
  const uncached = await start({ answerCache: false });
  for (const [name, type] of [['alice.udns.test', Packet.TYPE.A], ['nope.udns.test', Packet.TYPE.A], ['big.alice.udns.test', Packet.TYPE.TXT]] as const) {
    for (const edns of [false, true]) {
      const query = validQuery(0x7200, name, type, edns);
      const udp = await udpAsk(server.udpPort, query);
      const viaTcp = async (target: DnsServerHandle): Promise<Buffer> => unframe(await tcpSession(target.tcpPort, [frame(query)]).done)[0]!;
      // Twice over TCP: the second comes from the cache.
      const tcp = [await viaTcp(server), await viaTcp(server), await viaTcp(uncached)];
      expect(tcp[1]).toEqual(tcp[0]);
      expect(tcp[2]).toEqual(tcp[0]);
      expect(tcp[0]![2]! & 0x02, `${name} TC over TCP`).toBe(0);
      if (name.startsWith('big')) {
        expect(udp[2]! & 0x02, 'TC over UDP').toBe(0x02);
        expect(Packet.parse(tcp[0]!).answers).toHaveLength(40);
      } else {
        expect(tcp[0]).toEqual(udp);
      }
    }
  }
  expect(logLines.some((line) => line.msg === 'dns query' && line.transport === 'tcp' && line.cached === true)).toBe(true);
});

/** A raw TCP listener whose connections are read by TcpMessageReader, collecting the messages. */
async function readerServer(): Promise<{ port: number; readers: TcpMessageReader[]; messages: Buffer[][]; close(): Promise<void> }> {
  const readers: TcpMessageReader[] = [];
  const messages: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    sockets.add(socket);
    const got: Buffer[] = [];
    messages.push(got);
    readers.push(new TcpMessageReader(socket, { message: (bytes) => (got.push(Buffer.from(bytes)), true), broken: () => socket.destroy(), ended: () => socket.end() }));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as net.AddressInfo).port,
    readers,
    messages,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

test('two messages split at every byte boundary come out whole, as do both in one chunk', async () => {
  const raw = await readerServer();
  try {
    const first = validQuery(0x0102, 'alice.udns.test');
    const second = validQuery(0x0304, 'big.alice.udns.test', Packet.TYPE.TXT, true);
    const stream = Buffer.concat([frame(first), frame(second)]);
    for (let cut = 0; cut < stream.length; cut++) {
      const socket = net.connect(raw.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      const index = cut;
      await eventually('the connection to be accepted', () => (raw.readers[index] !== undefined ? true : undefined));
      if (cut > 0) {
        socket.write(stream.subarray(0, cut));
        // The server holds exactly the first part (less a message it could already hand out).
        const expected = cut >= 2 + first.length ? cut - 2 - first.length : cut;
        await eventually(`the first ${cut} bytes to arrive`, () => (raw.readers[index]!.bufferedBytes === expected && raw.messages[index]!.length === (cut >= 2 + first.length ? 1 : 0) ? true : undefined));
      }
      socket.end(stream.subarray(cut));
      await new Promise((resolve) => socket.once('close', resolve));
      expect(raw.messages[index], `cut at ${cut}`).toEqual([first, second]);
    }
  } finally {
    await raw.close();
  }
});

test('the reader hands out at most its per-turn share before yielding', async () => {
  const raw = await readerServer();
  try {
    const count = TCP_MESSAGES_PER_TURN * 20;
    const turns: number[] = [];
    let inTurn = 0;
    const tick = (): void => {
      turns.push(inTurn);
      inTurn = 0;
    };
    const socket = net.connect(raw.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    await eventually('the connection to be accepted', () => (raw.readers[0] !== undefined ? true : undefined));
    const got = raw.messages[0]!;
    const push = got.push.bind(got);
    got.push = (...items: Buffer[]) => {
      if (inTurn === 0) setImmediate(tick);
      inTurn += items.length;
      return push(...items);
    };
    socket.end(Buffer.concat(Array.from({ length: count }, (_, i) => frame(validQuery(i, 'alice.udns.test')))));
    await new Promise((resolve) => socket.once('close', resolve));
    expect(got).toHaveLength(count);
    expect(Math.max(...turns)).toBeLessThanOrEqual(TCP_MESSAGES_PER_TURN);
  } finally {
    await raw.close();
  }
});
