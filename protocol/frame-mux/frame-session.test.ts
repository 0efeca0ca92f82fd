import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/helpers/eventually.js';
import { socketPair } from '../../test/helpers/socket-pair.js';
import { FrameSession, type FrameSessionOptions } from './frame-session.js';
import type { FrameStream } from './frame-stream.js';
import { FrameReader, FrameType, frameHeader, numberFrame, smallFrame } from './frame-codec.js';
import { ResetCode } from './reset-codes.js';
import { startDelayProxy } from '../../bench/delay-proxy.js';
import { randomFrame } from '../../test/helpers/frame-mux-fuzz.js';
import { SeededRandom } from '../../test/helpers/seeded-random.js';

const MIB = 1024 * 1024;
const OPTIONS: Omit<FrameSessionOptions, 'role'> = {
  maxStreams: 100,
  initialWindow: MIB,
  maxWindow: 16 * MIB,
  windowBudget: 64 * MIB,
  heartbeatIntervalMs: 10_000,
  heartbeatTimeoutMs: 10_000,
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function sessionPair(agentOptions: Partial<FrameSessionOptions> = {}): Promise<{ edge: FrameSession; agent: FrameSession }> {
  const [a, b] = await socketPair(cleanups);
  const edge = new FrameSession(a, { ...OPTIONS, role: 'edge' });
  const agent = new FrameSession(b, { ...OPTIONS, ...agentOptions, role: 'agent' });
  cleanups.push(() => {
    edge.destroy();
    agent.destroy();
  });
  return { edge, agent };
}

function nextStream(agent: FrameSession): Promise<[FrameStream, Record<string, string>]> {
  return once(agent, 'stream') as Promise<[FrameStream, Record<string, string>]>;
}

/** Everything the stream delivers until its end (not `for await`: that destroys the stream, both halves, at the end). */
function readAll(stream: FrameStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('close', () => {
      if (!stream.readableEnded) reject(new Error(`stream ${stream.id} closed before its end (code ${stream.rstCode})`));
    });
  });
}

describe('frame mux', () => {
  it('carries bytes both ways with headers, a response and half-closes, and ends with code 0', async () => {
    const { edge, agent } = await sessionPair();
    const arriving = nextStream(agent);
    const stream = edge.request({ ':method': 'CONNECT', 'udns-route': 'r1' });
    const response = once(stream, 'response') as Promise<[Record<string, string | number>]>;
    stream.end('hello agent');
    const [accepted, headers] = await arriving;
    expect(headers['udns-route']).toBe('r1');
    const closed = Promise.all([once(stream, 'close'), once(accepted, 'close')]);
    accepted.respond({ ':status': 200 });
    expect((await response)[0][':status']).toBe(200);
    expect((await readAll(accepted)).toString()).toBe('hello agent');
    accepted.end('hello edge');
    expect((await readAll(stream)).toString()).toBe('hello edge');
    await closed;
    expect(stream.rstCode).toBe(ResetCode.NO_ERROR);
    expect(accepted.rstCode).toBe(ResetCode.NO_ERROR);
    expect(edge.openStreams).toBe(0);
    expect(agent.openStreams).toBe(0);
  });

  it('moves 64 MiB intact both ways on many streams at once', { timeout: 20_000 }, async () => {
    const { edge, agent } = await sessionPair();
    agent.on('stream', (stream: FrameStream) => stream.pipe(stream));
    const payload = Buffer.alloc(8 * MIB);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
    const results = await Promise.all(Array.from({ length: 8 }, async () => {
      const stream = edge.request({});
      stream.end(payload);
      return readAll(stream);
    }));
    for (const result of results) expect(result.equals(payload)).toBe(true);
  });

  it('holds a sender at one window while the reader stops reading', async () => {
    const { edge, agent } = await sessionPair();
    const arriving = nextStream(agent);
    const stream = edge.request({});
    stream.pause();
    stream.write('x');
    const [accepted] = await arriving;
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    // Write until the stream says stop, then keep pushing past it: the credit is what bounds.
    for (let i = 0; i < 64; i += 1) {
      accepted.write(chunk);
      written += chunk.length;
    }
    const held = await eventually('the edge to buffer what the credit allowed', () => (stream.readableLength >= MIB ? stream.readableLength : undefined));
    expect(held).toBe(MIB);
    expect(accepted.writableLength).toBeGreaterThanOrEqual(written - MIB - 64 * 1024);
    stream.resume();
    let got = 0;
    stream.on('data', (piece: Buffer) => { got += piece.length; });
    await eventually('every byte once the reader reads', () => (got === written ? true : undefined));
  });

  it('passes resets both ways with their codes', async () => {
    const { edge, agent } = await sessionPair();
    const arriving = nextStream(agent);
    const stream = edge.request({});
    stream.write('x');
    const [accepted] = await arriving;
    accepted.close(ResetCode.REFUSED_STREAM);
    await once(stream, 'close');
    expect(stream.rstCode).toBe(ResetCode.REFUSED_STREAM);
    expect(stream.readableEnded).toBe(false);

    const second = nextStream(agent);
    const other = edge.request({});
    other.write('y');
    const [otherAccepted] = await second;
    other.destroy();
    await once(otherAccepted, 'close');
    expect(otherAccepted.rstCode).toBe(ResetCode.CANCEL);
    expect(edge.openStreams).toBe(0);
    await eventually('the agent to forget both', () => (agent.openStreams === 0 ? true : undefined));
  });

  it('refuses a stream past the advertised limit and counts it free again when one closes', async () => {
    const { edge, agent } = await sessionPair({ maxStreams: 2 });
    await eventually('the edge to learn the limit', () => edge.remoteSettings.maxConcurrentStreams);
    expect(edge.remoteSettings.maxConcurrentStreams).toBe(2);
    const accepted: FrameStream[] = [];
    agent.on('stream', (stream: FrameStream) => accepted.push(stream));
    const streams = [edge.request({}), edge.request({}), edge.request({})];
    await once(streams[2]!, 'close');
    expect(streams[2]!.rstCode).toBe(ResetCode.REFUSED_STREAM);
    await eventually('two streams at the agent', () => (accepted.length === 2 ? true : undefined));
    accepted[0]!.close(ResetCode.CANCEL);
    await once(streams[0]!, 'close');
    const fourth = edge.request({});
    await eventually('a third accepted stream', () => (accepted.length === 3 ? true : undefined));
    expect(fourth.destroyed).toBe(false);
  });

  it('closes gracefully: no new streams, the session ends once open ones have', async () => {
    const { edge, agent } = await sessionPair();
    const arriving = nextStream(agent);
    const stream = edge.request({});
    stream.write('x');
    const [accepted] = await arriving;
    const goaway = once(agent, 'goaway');
    edge.close();
    await goaway;
    expect(() => edge.request({})).toThrow(/closing/);
    expect(edge.destroyed).toBe(false);
    // Both ends go (each closed): either may be first.
    const gone = Promise.all([once(edge, 'close'), once(agent, 'close')]);
    stream.end();
    accepted.end();
    accepted.resume();
    stream.resume();
    await gone;
  });

  it('ends the session on bytes that break the format, and streams on it are closed', async () => {
    const [a, b] = await socketPair(cleanups);
    const agent = new FrameSession(b, { ...OPTIONS, role: 'agent' });
    const errors: Error[] = [];
    agent.on('protocolError', (error: Error) => errors.push(error));
    a.on('error', () => {});
    a.write(Buffer.concat([numberFrame(FrameType.SETTINGS, 0, 1, 100), Buffer.from('GET / HTTP/1.1\r\n\r\n')]));
    await once(agent, 'close');
    expect(errors[0]?.message).toMatch(/frame type|stream|bytes/);
  });

  it('resets a stream whose peer sends past its credit, and an OPEN with a reused id ends the session', async () => {
    const [a, b] = await socketPair(cleanups);
    const agent = new FrameSession(b, { ...OPTIONS, initialWindow: 1024, role: 'agent' });
    const streams: FrameStream[] = [];
    agent.on('stream', (stream: FrameStream) => streams.push(stream));
    const received: Buffer[] = [];
    a.on('data', (chunk: Buffer) => received.push(chunk));
    a.write(Buffer.concat([
      numberFrame(FrameType.SETTINGS, 0, 1, 100),
      smallFrame(FrameType.OPEN, 1, Buffer.from('{}')),
      frameHeader(FrameType.DATA, 1, 2048),
      Buffer.alloc(2048),
    ]));
    await eventually('the stream to be reset', () => (streams[0]?.destroyed ? true : undefined));
    expect(streams[0]!.rstCode).toBe(ResetCode.FLOW_CONTROL_ERROR);
    const resetSeen = await eventually('a RESET frame on the wire', () => {
      const wire = Buffer.concat(received);
      return wire.includes(numberFrame(FrameType.RESET, 1, ResetCode.FLOW_CONTROL_ERROR)) ? true : undefined;
    });
    expect(resetSeen).toBe(true);
    a.write(smallFrame(FrameType.OPEN, 1, Buffer.from('{}')));
    await once(agent, 'close');
  });

  it('ends a session whose peer stops answering PINGs', async () => {
    const [a, b] = await socketPair(cleanups);
    const edge = new FrameSession(b, { ...OPTIONS, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 100, role: 'edge' });
    // The peer says hello, then reads and never answers.
    a.write(numberFrame(FrameType.SETTINGS, 0, 1, 100));
    a.resume();
    await once(edge, 'close');
    expect(edge.destroyed).toBe(true);
  });

  it('refuses a peer of another version', async () => {
    const [a, b] = await socketPair(cleanups);
    const agent = new FrameSession(b, { ...OPTIONS, role: 'agent' });
    const errors: Error[] = [];
    agent.on('protocolError', (error: Error) => errors.push(error));
    a.on('error', () => {});
    a.write(numberFrame(FrameType.SETTINGS, 0, 2, 100));
    await once(agent, 'close');
    expect(errors[0]?.message).toMatch(/version 2/);
  });

  it('grows a download window with the bandwidth-delay product over a 40 ms round trip, and a stalled reader still holds the sender', { timeout: 30_000 }, async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: (server.address() as net.AddressInfo).port, oneWayDelayMs: 20 });
    const socket = net.connect(proxy.port, '127.0.0.1');
    const [agentSocket] = await accepted;
    server.close();
    const edge = new FrameSession(socket, { ...OPTIONS, role: 'edge' });
    const agent = new FrameSession(agentSocket, { ...OPTIONS, role: 'agent' });
    cleanups.push(() => {
      edge.destroy();
      agent.destroy();
      void proxy.close();
    });
    const arriving = nextStream(agent);
    const download = edge.request({});
    download.write('GET');
    const [served] = await arriving;
    const chunk = Buffer.alloc(256 * 1024);
    let sent = 0;
    const pump = (): void => {
      while (sent < 96 * MIB) {
        sent += chunk.length;
        if (!served.write(chunk)) {
          served.once('drain', pump);
          return;
        }
      }
      served.end();
    };
    pump();
    let received = 0;
    download.on('data', (piece: Buffer) => { received += piece.length; });
    const grown = await eventually('the edge to grow its window past the initial 1 MiB', () => (edge.estimatedWindow > 2 * MIB ? edge.estimatedWindow : undefined), { timeoutMs: 20_000 });
    expect(grown).toBeLessThanOrEqual(OPTIONS.maxWindow);
    // A reader that stops: the sender stops at the grown window, not before, not after.
    download.pause();
    const held = await eventually('the paused reader to hold a full window', () => {
      const before = download.readableLength;
      return before > 0 && before === download.readableLength && served.writableNeedDrain ? before : undefined;
    });
    expect(held).toBeLessThanOrEqual(edge.receiveWindow + 256 * 1024);
    download.resume();
    await eventually('the whole download', () => (received === 96 * MIB ? true : undefined), { timeoutMs: 20_000 });
  });

  it('keeps grown windows within the budget as streams open', () => {
    const [a] = [new net.Socket()];
    const session = new FrameSession(a, { ...OPTIONS, windowBudget: 8 * MIB, role: 'edge' });
    cleanups.push(() => session.destroy());
    // The estimate grew to 16 MiB; eight open streams get 1 MiB each (never under the initial window).
    (session as unknown as { estimator: { window: number } }).estimator.window = 16 * MIB;
    expect(session.receiveWindow).toBe(8 * MIB);
    for (let i = 0; i < 8; i += 1) session.request({});
    expect(session.receiveWindow).toBe(MIB);
    for (let i = 0; i < 8; i += 1) session.request({});
    expect(session.receiveWindow).toBe(MIB);
  });

  it('answers PINGs only while its peer reads: a flood from a peer that never reads costs bounded memory', async () => {
    const [a, b] = await socketPair(cleanups);
    const edge = new FrameSession(b, { ...OPTIONS, role: 'edge' });
    cleanups.push(() => edge.destroy());
    a.pause();
    const pings = Buffer.concat(Array.from({ length: 1000 }, (_, i) => numberFrame(FrameType.PING, 0, 0, i)));
    a.write(numberFrame(FrameType.SETTINGS, 0, 1, 100));
    let sent = 0;
    // 40 MiB of PINGs: as many PONGs would be 40 MiB held for a peer that reads none.
    while (sent < 40 * MIB) {
      await new Promise<void>((resolve) => (a.write(pings) ? resolve() : a.once('drain', () => resolve())));
      sent += pings.length;
    }
    const received = await eventually('the edge to read every PING', () => ((edge as unknown as { bytesReceived: number }).bytesReceived >= sent ? true : undefined));
    expect(received).toBe(true);
    expect(b.writableLength).toBeLessThan(4 * MIB);
    expect(edge.destroyed).toBe(false);
  });

  it('takes 300 peers sending random frames on either side without throwing, and ends or keeps each session cleanly', { timeout: 30_000 }, async () => {
    const random = new SeededRandom(Number(process.env.UDNS_FUZZ_SEED ?? 20261203));
    for (let round = 0; round < 300; round += 1) {
      const [a, b] = await socketPair(cleanups);
      const role = round % 2 === 0 ? 'agent' : 'edge';
      const session = new FrameSession(b, { ...OPTIONS, role });
      session.on('stream', (stream: FrameStream) => {
        stream.on('error', () => {});
        stream.respond({ ':status': 200 });
        stream.pipe(stream);
      });
      if (role === 'edge') {
        const opened = session.request({});
        opened.on('error', () => {});
        opened.write('hello');
      }
      a.on('error', () => {});
      a.resume();
      const frames = [numberFrame(FrameType.SETTINGS, 0, 1, 100), ...Array.from({ length: random.int(1, 30) }, () => randomFrame(random))];
      a.write(Buffer.concat(frames));
      await new Promise((resolve) => setImmediate(resolve));
      a.destroy();
      await eventually('the session to end with its transport', () => (session.destroyed ? true : undefined));
      expect(session.openStreams).toBe(0);
    }
  });

  it('still answers a live peer\'s PINGs while its send backlog is full (a slow, busy link)', async () => {
    const [a, b] = await socketPair(cleanups);
    const agent = new FrameSession(b, { ...OPTIONS, role: 'agent' });
    cleanups.push(() => agent.destroy());
    agent.on('stream', (stream: FrameStream) => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(8 * MIB));
    });
    // The peer opens a stream, grants it 8 MiB, and stops reading: the agent's backlog fills.
    a.pause();
    a.write(Buffer.concat([
      numberFrame(FrameType.SETTINGS, 0, 1, 100),
      smallFrame(FrameType.OPEN, 1, Buffer.from('{}')),
      numberFrame(FrameType.WINDOW, 1, 7 * MIB),
    ]));
    await eventually('the agent to be congested', () => (agent.congested ? true : undefined));
    a.write(Buffer.concat(Array.from({ length: 5 }, (_, i) => numberFrame(FrameType.PING, 0, 0, 100 + i))));
    await eventually('the PINGs to arrive', () => ((agent as unknown as { bytesReceived: number }).bytesReceived >= 9 * 3 + 8 + 2 + 4 + 5 * 17 ? true : undefined));
    const pongs: number[] = [];
    const reader = new FrameReader({
      data: () => {},
      frame: (type, _stream, payload) => { if (type === FrameType.PONG) pongs.push(payload.readUInt32BE(4)); },
      invalid: (reason) => { throw new Error(reason); },
    });
    a.on('data', (chunk: Buffer) => reader.push(chunk));
    a.resume();
    await eventually('every PONG', () => (pongs.length === 5 ? true : undefined));
    expect(pongs).toEqual([100, 101, 102, 103, 104]);
  });

  it('keeps a session whose PONG is late while the peer\'s bytes keep arriving', async () => {
    const [a, b] = await socketPair(cleanups);
    const edge = new FrameSession(b, { ...OPTIONS, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 100, role: 'edge' });
    cleanups.push(() => edge.destroy());
    a.write(numberFrame(FrameType.SETTINGS, 0, 1, 100));
    a.resume();
    // The peer never answers a PING, but keeps sending (its PONGs stuck behind a backlog).
    const keepAlive = setInterval(() => a.write(numberFrame(FrameType.PING, 0, 0, 1)), 20);
    cleanups.push(() => clearInterval(keepAlive));
    const started = Date.now();
    await eventually('a second of heartbeats', () => (Date.now() - started > 1000 ? true : undefined), { timeoutMs: 5000 });
    expect(edge.destroyed).toBe(false);
    clearInterval(keepAlive);
    await once(edge, 'close');
  });
});
