import http2 from 'node:http2';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, MAX_CONTROL_FRAME_BYTES, MAX_ROUTES_PER_TUNNEL, PROTOCOL_VERSION } from '../../protocol/index.js';
import { apiCall } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { FrameType, Flag, Setting, data, frame, goaway, headers, hpack, ping, rstStream, settings, windowUpdate } from '../helpers/h2-frames.js';
import { HostileMuxAgent, HostileRawAgent, dialEdge } from '../helpers/hostile-agent.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

/*
 * Tunnel protocol fuzz, hostile agent side (issue 8): an agent with a valid token breaks the
 * protocol at every layer (transport, HTTP/2 frames, control messages, visitor streams). After
 * each attack the edge must still be up and serving a second, well-behaved agent that stays
 * connected through the whole file, only the hostile session may have ended, and nothing of it
 * may be left (tunnel count, routes, names online, TCP ports).
 */

/** Sessions of random frames, and of random control messages (`npm run test:chaos` raises it). */
const SESSIONS = Number(process.env.UDNS_TUNNEL_FUZZ_SESSIONS ?? 40);
const SEED = Number(process.env.UDNS_FUZZ_SEED ?? 20261203);
/** Hostile sessions open at once. */
const PARALLEL = 40;

let edge: TestEdge;
let origin: Origin;
let good: Agent;
let goodOffline = 0;
let malloryToken: string;

beforeAll(async () => {
  edge = await startTestEdge();
  origin = await startHttpOrigin();
  good = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'goodpc' }]);
  good.on('offline', () => { goodOffline++; });
  malloryToken = await edge.createAccount('mallory');
});
afterAll(async () => {
  good?.stop();
  await origin?.close();
  await edge?.close();
});

/** Error-level lines the edge logged since `offset`: a misbehaving agent is worth a warning, never an error of ours. */
const errorsLoggedSince = (offset: number): string[] =>
  edge.logs().slice(offset).split('\n').filter((line) => /"level":(50|60)/.test(line));

/**
 * How long a session may outlive its transport on the edge. Node 20 gives no sign when nghttp2
 * ends a session for a frame-level error (a frame of the wrong size, an orphan CONTINUATION,
 * HPACK that does not decode): it sends GOAWAY, stops reading, and tells JavaScript nothing, so
 * the edge notices only when its heartbeat PING goes unanswered: within
 * HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS, plus a margin for a loaded machine.
 */
const SESSION_END_BOUND_MS = HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS + 10_000;

/**
 * Runs one attack, then checks that only the hostile session ended: one tunnel left (the good
 * one), which never went offline and still serves, and nothing of mallory's left in the
 * registry (tunnels, online names) or listening (TCP ports).
 */
async function attack(run: () => Promise<void>, tcpPorts: number[] = []): Promise<void> {
  const logOffset = edge.logs().length;
  await run();
  await eventually('only the good tunnel to be left', () => (edge.edge.tunnelCount() === 1 ? true : undefined), { timeoutMs: SESSION_END_BOUND_MS });
  expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
  expect(goodOffline).toBe(0);
  const me = await apiCall(edge, malloryToken, 'GET', '/me');
  expect(me.body.tunnels).toEqual([]);
  expect(me.body.names.filter((name: { online: boolean }) => name.online)).toEqual([]);
  for (const port of tcpPorts) expect(await connects(port)).toBe(false);
  expect(errorsLoggedSince(logOffset)).toEqual([]);
}

/** True when something accepts connections on `port`. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

/** Settles when `closed` does; fails the test with `what` after `timeoutMs`. */
async function expectClosed(closed: Promise<void>, what: string, timeoutMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the edge did not end the session: ${what}`)), timeoutMs); });
  try {
    await Promise.race([closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A visit to `name` that settles however the edge answers (a status, or a broken connection:
 * both are fine for an agent that misbehaves), and fails only when it hangs.
 */
async function visitSettles(name: string, timeoutMs = 15_000): Promise<string> {
  const outcome = await Promise.race([
    visit(edge, name, '/echo').then((answer) => `status ${answer.status}`, (error: Error) => `broken: ${error.message}`),
    new Promise<string>((resolve) => setTimeout(() => resolve('hung'), timeoutMs)),
  ]);
  expect(outcome).not.toBe('hung');
  return outcome;
}

describe('a hostile agent against the edge: the edge stays up and ends only that session', () => {
  test('garbage instead of the HTTP/2 preface', async () => {
    await attack(async () => {
      const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
      agent.write(randomBytes(4096));
      await expectClosed(agent.closed, 'garbage preface');
    });
  });

  const hello = { type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'hostile' };
  const violations: Array<[string, { helloFirst: boolean; lines: Array<string | Buffer> }]> = [
    ['a line that is not JSON', { helloFirst: false, lines: ['{nope\n'] }],
    ['JSON that is not an object', { helloFirst: true, lines: ['[1,2,3]\n'] }],
    ['null', { helloFirst: true, lines: ['null\n'] }],
    ['invalid UTF-8', { helloFirst: true, lines: [Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x0a])] }],
    ['a line over MAX_CONTROL_FRAME_BYTES with no newline', { helloFirst: false, lines: ['x'.repeat(MAX_CONTROL_FRAME_BYTES + 1)] }],
    ['an oversized line with its newline', { helloFirst: true, lines: [`${JSON.stringify({ type: 'unregisterRoute', routeId: 'r'.repeat(MAX_CONTROL_FRAME_BYTES) })}\n`] }],
    ['an unknown message type', { helloFirst: true, lines: ['{"type":"launchMissiles"}\n'] }],
    ['an edge message sent by the agent', { helloFirst: true, lines: [`${JSON.stringify({ type: 'welcome', protocolVersion: 1, edgeVersion: 'x', account: 'admin', tunnelId: 'x' })}\n`] }],
    ['wrong field types', { helloFirst: true, lines: [`${JSON.stringify({ type: 'registerRoute', requestId: '1', kind: 'http', target: 'x' })}\n`] }],
    ['an unknown route kind', { helloFirst: true, lines: [`${JSON.stringify({ type: 'registerRoute', requestId: 1, kind: 'udp', target: 'x' })}\n`] }],
    ['an extra field', { helloFirst: true, lines: [`${JSON.stringify({ type: 'unregisterRoute', routeId: 'x', admin: true })}\n`] }],
    ['a message before hello', { helloFirst: false, lines: [`${JSON.stringify({ type: 'registerRoute', requestId: 1, kind: 'http', target: 'x' })}\n`] }],
    ['a second hello', { helloFirst: true, lines: [`${JSON.stringify(hello)}\n`] }],
    ['a hello of another protocol version', { helloFirst: false, lines: [`${JSON.stringify({ ...hello, protocolVersion: 99 })}\n`] }],
    ['a hello with 1000 features', { helloFirst: false, lines: [`${JSON.stringify({ ...hello, features: Array.from({ length: 1000 }, () => 'x') })}\n`] }],
    ['a direct offer for a route it does not have, with a bad key', { helloFirst: true, lines: [`${JSON.stringify({ type: 'offerDirect', routeId: 'x', port: 1, key: 'nothex' })}\n`] }],
  ];
  test.each(violations)('control stream: %s is a protocol violation', async (_name, { helloFirst, lines }) => {
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      if (helloFirst) await agent.hello();
      for (const line of lines) agent.write(line);
      await expectClosed(agent.closed, 'control violation');
      expect(agent.messages.at(-1)).toMatchObject({ type: 'error', code: 'protocol_violation' });
    });
  });

  test('control stream: a 64 KiB line dribbled in one-byte DATA frames', async () => {
    await attack(async () => {
      const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
      await agent.handshake();
      agent.sendControl('x'.repeat(MAX_CONTROL_FRAME_BYTES + 1), 1);
      await expectClosed(agent.closed, 'dribbled oversized line', 30_000);
    });
  });

  test('control stream: the agent ends it, or resets it', async () => {
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await agent.hello();
      agent.control.end();
      await expectClosed(agent.closed, 'control stream ended');
    });
    await attack(async () => {
      const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
      await agent.handshake();
      agent.write(rstStream(1, http2.constants.NGHTTP2_CANCEL));
      await expectClosed(agent.closed, 'control stream reset');
    });
  });

  test(`a flood of registerRoute: at most ${MAX_ROUTES_PER_TUNNEL} routes, the rest refused, none left after`, async () => {
    let tcpPorts: number[] = [];
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await agent.hello();
      const lines: string[] = [];
      for (let requestId = 0; requestId < 600; requestId++) {
        const kind = requestId % 3 === 0 ? 'tcp' : 'http';
        lines.push(JSON.stringify({ type: 'registerRoute', requestId, kind, ...(kind === 'http' ? { name: `mal${requestId}` } : {}), target: 'flood' }));
      }
      agent.write(`${lines.join('\n')}\n`);
      const answers = await eventually('an answer to every registration', () => {
        const answered = agent.messages.filter((m) => m.type === 'routeRegistered' || m.type === 'routeRefused');
        return answered.length === 600 ? answered : undefined;
      }, { timeoutMs: 30_000 });
      const registered = answers.filter((m) => m.type === 'routeRegistered');
      expect(registered.length).toBeGreaterThan(0);
      expect(registered.length).toBeLessThanOrEqual(MAX_ROUTES_PER_TUNNEL);
      expect(new Set(answers.filter((m) => m.type === 'routeRefused').map((m) => m.code))).toEqual(new Set(['route_limit']));
      tcpPorts = registered.filter((m) => m.kind === 'tcp').map((m) => m.port as number);
      const me = await apiCall(edge, malloryToken, 'GET', '/me');
      expect(me.body.tunnels[0].routes).toHaveLength(registered.length);
      agent.destroy();
    });
    for (const port of tcpPorts) expect(await connects(port)).toBe(false);
  });

  test('visitor streams answered with bad statuses, bad headers, garbage and resets', async () => {
    const behaviours: Array<(stream: http2.ServerHttp2Stream) => void> = [
      (stream) => stream.respond({ ':status': 500 }, { endStream: true }),
      (stream) => { stream.respond({ ':status': 404 }); stream.end('junk'); },
      (stream) => { stream.respond({ ':status': 200 }); stream.end('this is not HTTP at all\r\n\r\n'); },
      (stream) => { stream.respond({ ':status': 200 }); stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR); },
      (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM),
      (stream) => { stream.respond({ ':status': 200, 'x-huge': 'h'.repeat(60_000) }); stream.end(); },
      (stream) => { stream.additionalHeaders({ ':status': 103 }); stream.respond({ ':status': 200 }); stream.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'); },
      (stream) => { stream.respond({ ':status': 200 }, { waitForTrailers: true }); stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'yes' })); stream.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n'); },
      (stream) => { stream.respond({ ':status': 200 }); stream.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort'); },
    ];
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await agent.hello();
      expect(await agent.register(1, 'malpc')).toMatchObject({ type: 'routeRegistered' });
      let next = 0;
      agent.onVisitor = (stream) => {
        try {
          behaviours[next++ % behaviours.length]!(stream);
        } catch {
          // node:http2 refuses some of these on our side already: the visitor then sees a close.
          stream.destroy();
        }
      };
      const outcomes: string[] = [];
      for (let i = 0; i < behaviours.length * 2; i++) outcomes.push(await visitSettles('malpc'));
      console.log(`visits to an agent answering badly: ${outcomes.join('; ')}`);
      agent.destroy();
    });
  });

  const badHeaderBlocks: Array<[string, Buffer]> = [
    ['HPACK that does not decode (index 0)', Buffer.from([0x80])],
    ['HPACK pointing past the dynamic table', Buffer.from([0xff, 0xff, 0x7f])],
    ['a non-numeric :status', hpack([[':status', 'abc']])],
    ['no :status', hpack([['content-type', 'text/plain']])],
    ['upper-case header names', hpack([[':status', '200'], ['X-Upper', 'y']])],
    ['a pseudo-header after a regular one', hpack([['x-a', 'b'], [':status', '200']])],
    ['a connection-specific header', hpack([[':status', '200'], ['connection', 'keep-alive']])],
    ['a request pseudo-header in a response', hpack([[':status', '200'], [':path', '/']])],
  ];
  test('RST_STREAM: every visitor stream refused at once, 300 visitors', async () => {
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await agent.hello();
      await agent.register(1, 'rstpc');
      agent.onVisitor = (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      const outcomes = await Promise.all(Array.from({ length: 300 }, () => visitSettles('rstpc')));
      expect(outcomes.filter((outcome) => outcome === 'status 200')).toEqual([]);
      agent.destroy();
    });
  });

  const rawFloods: Array<[string, (agent: HostileRawAgent) => void]> = [
    ['RST_STREAM on 20,000 streams never opened', (agent) => { for (let id = 3; id < 40_003; id += 2) agent.write(rstStream(id, 8)); }],
    ['RST_STREAM on the control stream, 20,000 times', (agent) => { for (let i = 0; i < 20_000; i++) agent.write(rstStream(1, 8)); }],
    ['200,000 SETTINGS frames, never reading the ACKs', (agent) => { for (let i = 0; i < 200_000; i++) agent.write(settings([[Setting.INITIAL_WINDOW_SIZE, 65_535 + (i % 100)]])); }],
    ['200,000 PINGs, never reading the answers', (agent) => { for (let i = 0; i < 200_000; i++) agent.write(ping()); }],
    ['a WINDOW_UPDATE of 0 on the connection', (agent) => agent.write(windowUpdate(0, 0))],
    ['a WINDOW_UPDATE of 0 on the control stream', (agent) => agent.write(windowUpdate(1, 0))],
    ['a connection window pushed past 2^31-1', (agent) => { agent.write(windowUpdate(0, 0x7fffffff)); agent.write(windowUpdate(0, 0x7fffffff)); }],
    ['a stream window pushed past 2^31-1', (agent) => { agent.write(windowUpdate(1, 0x7fffffff)); agent.write(windowUpdate(1, 0x7fffffff)); }],
    ['WINDOW_UPDATEs for streams never opened', (agent) => { for (let id = 3; id < 2003; id += 2) agent.write(windowUpdate(id, 1)); }],
    ['100,000 WINDOW_UPDATEs of one byte', (agent) => { for (let i = 0; i < 100_000; i++) agent.write(windowUpdate(0, 1)); }],
    ['SETTINGS with an initial window over 2^31-1', (agent) => agent.write(settings([[Setting.INITIAL_WINDOW_SIZE, 0x80000000]]))],
    ['SETTINGS with a frame size below the minimum', (agent) => agent.write(settings([[Setting.MAX_FRAME_SIZE, 100]]))],
    ['a stream of its own towards the edge (even id)', (agent) => agent.write(headers(2, hpack([[':method', 'CONNECT'], [':authority', 'visitor.udns']])))],
    ['a stream of its own towards the edge (odd id)', (agent) => agent.write(headers(3, hpack([[':method', 'GET'], [':path', '/'], [':scheme', 'http'], [':authority', 'x']])))],
    ['a PUSH_PROMISE although push is off', (agent) => agent.write(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), hpack([[':method', 'GET'], [':path', '/'], [':scheme', 'http'], [':authority', 'x']])])))],
    ['a DATA frame larger than the edge allows', (agent) => agent.write(data(1, Buffer.alloc(1024 * 1024)))],
    ['CONTINUATION frames with no HEADERS before them', (agent) => { for (let i = 0; i < 1000; i++) agent.write(frame(FrameType.CONTINUATION, 0, 1, hpack([['x', 'y']]))); }],
    ['GOAWAY, then frames anyway', (agent) => { agent.write(goaway(0, 0)); for (let i = 0; i < 100; i++) agent.write(data(1, '{"type":"hello"}\n')); }],
  ];
  /*
   * All raw HTTP/2 abuse in one test of parallel sessions: a session nghttp2 ends for a
   * frame-level error is noticed by the heartbeat only (SESSION_END_BOUND_MS), once for all.
   */
  test(`raw HTTP/2 abuse: ${SESSIONS} sessions of random frames, bad HEADERS answers, floods, bad windows and settings, streams in the wrong direction, oversized frames (seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    await attack(async () => {
      let started = 0;
      const randomFrames = Array.from({ length: Math.min(PARALLEL, SESSIONS) }, async () => {
        while (started++ < SESSIONS) await randomFrameSession(random);
      });
      const badAnswers = badHeaderBlocks.map(async ([name, block], i) => {
        const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
        await agent.handshake();
        agent.sendControl(`${JSON.stringify({ type: 'registerRoute', requestId: 1, kind: 'http', name: `rawpc${i}`, target: 'x' })}\n`);
        await agent.waitFor('routeRegistered');
        const visiting = visitSettles(`rawpc${i}`, SESSION_END_BOUND_MS);
        const opened = await eventually('a visitor stream', () => agent.frames.find((f) => f.type === FrameType.HEADERS && f.streamId > 1));
        agent.write(headers(opened.streamId, block));
        const outcome = await visiting;
        agent.destroy();
        return `${name}: ${outcome}`;
      });
      const floods = rawFloods.map(async ([name, abuse]) => {
        const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
        await agent.handshake();
        agent.autoAnswer = false;
        agent.transport.pause();
        abuse(agent);
        // Whatever the edge decides (end the session or shrug it off), it takes all we sent: then we end ours.
        await eventually(`the edge to take all of: ${name}`, () => {
          rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
          return agent.transport.destroyed || agent.transport.writableLength === 0 ? true : undefined;
        }, { timeoutMs: 30_000 });
        agent.destroy();
      });
      const [, outcomes] = await Promise.all([Promise.all(randomFrames), Promise.all(badAnswers), Promise.all(floods)]);
      console.log(`visitor streams answered with bad HEADERS: ${outcomes.join('; ')}`);
    });
    console.log(`raw HTTP/2 abuse: this process (edge and attackers) grew by ${((rssPeak - rssBefore) / 1024 / 1024).toFixed(0)} MB at most`);
    expect(rssPeak - rssBefore).toBeLessThan(256 * 1024 * 1024);
  }, 90_000 + SESSIONS * 200);

  test('a visitor upload to an agent that never reads is held by flow control, not buffered by the edge', async () => {
    await attack(async () => {
      const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
      // The largest windows HTTP/2 allows, then never a byte read: only the socket holds the edge back.
      await agent.handshake([[Setting.INITIAL_WINDOW_SIZE, 0x7fffffff]]);
      agent.write(windowUpdate(0, 0x7fffffff - 65_535));
      agent.sendControl(`${JSON.stringify({ type: 'registerRoute', requestId: 1, kind: 'http', name: 'sinkpc', target: 'x' })}\n`);
      await agent.waitFor('routeRegistered');
      await eventually('the window update to be sent', () => (agent.transport.writableLength === 0 ? true : undefined));
      agent.transport.pause();

      const rssBefore = process.memoryUsage().rss;
      const upload = net.connect(edge.edge.httpPort, '127.0.0.1');
      upload.on('error', () => {});
      const total = 512 * 1024 * 1024;
      upload.write(`POST /upload HTTP/1.1\r\nHost: ${hostFor(edge, 'sinkpc')}\r\nContent-Length: ${total}\r\n\r\n`);
      const chunk = Buffer.alloc(256 * 1024, 0x61);
      let written = 0;
      let lastProgress = Date.now();
      const pump = (): void => {
        while (written < total && !upload.destroyed) {
          written += chunk.length;
          lastProgress = Date.now();
          if (!upload.write(chunk)) { upload.once('drain', pump); return; }
        }
      };
      pump();
      // The upload stalls once the sockets' buffers are full: the edge takes no more.
      await eventually('the upload to stall', () => (Date.now() - lastProgress > 1000 ? true : undefined), { timeoutMs: 30_000 });
      const grew = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
      console.log(`upload to a non-reading agent stalled after ${(written / 1024 / 1024).toFixed(0)} MB; test process RSS grew ${grew.toFixed(0)} MB`);
      expect(written).toBeLessThan(128 * 1024 * 1024);
      const visitorClosed = new Promise((resolve) => upload.once('close', resolve));
      agent.destroy();
      await expectClosed(visitorClosed as Promise<void>, 'the visitor of a tunnel that went away');
    });
  }, 60_000);

  test('half-closing the transport, and GOAWAY', async () => {
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await agent.hello();
      agent.transport.end();
      await expectClosed(agent.closed, 'transport half-closed');
    });
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await agent.hello();
      await agent.register(1, 'gonepc');
      agent.mux.goaway(http2.constants.NGHTTP2_NO_ERROR);
      await eventually('the name to go offline', async () => ((await visit(edge, 'gonepc', '/')).status === 502 ? true : undefined));
      agent.destroy();
    });
  });

  test('an agent that never says hello is cut at the handshake deadline', async () => {
    await attack(async () => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
      await expectClosed(agent.closed, 'no hello', 20_000);
    });
  }, 30_000);

  test(`seeded random control messages (${SESSIONS} sessions, seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED);
    const pick = <T>(items: readonly T[]): T => random.pick(items);
    const values = [null, true, 0, -1, 1.5, 2 ** 53, '', 'x'.repeat(300), [], {}, [1], { a: 1 }, '\u0000', '\ud800'];
    const valid = [
      { type: 'registerRoute', requestId: 2, kind: 'http', name: 'fuzzpc', target: 't' },
      { type: 'registerRoute', requestId: 3, kind: 'tcp', preferredPort: 30500, target: 't' },
      { type: 'unregisterRoute', routeId: 'r' },
      { type: 'offerDirect', routeId: 'r', port: 8080, key: 'a'.repeat(64) },
      hello,
    ];
    const mutate = (message: Record<string, unknown>): string => {
      const copy: Record<string, unknown> = { ...message };
      const keys = Object.keys(copy);
      switch (random.int(0, 5)) {
        case 0: copy[pick(keys)] = pick(values); break;
        case 1: delete copy[pick(keys)]; break;
        case 2: copy[pick(['extra', '__proto__', 'constructor', 'type'])] = pick(values); break;
        case 3: return JSON.stringify(copy).slice(0, random.int(0, 39));
        case 4: return JSON.stringify(pick(values));
        default: break;
      }
      return JSON.stringify(copy);
    };
    const outcomes = { ended: 0, survived: 0 };
    for (let round = 0; round < SESSIONS; round++) {
      await attack(async () => {
        const agent = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
        if (random.chance(0.8)) await agent.hello();
        const lines = Array.from({ length: random.int(1, 4) }, () => mutate(pick(valid)));
        agent.write(`${lines.join('\n')}\n`);
        // A marker the edge answers only if it still reads this session after the lines above.
        agent.send({ type: 'registerRoute', requestId: 999, kind: 'http', name: 'fuzzmarker', target: 'marker' });
        await eventually('the edge to end the session or answer the marker', () =>
          (agent.transport.destroyed || agent.messages.some((m) => m.requestId === 999) ? true : undefined));
        if (agent.transport.destroyed) outcomes.ended++;
        else outcomes.survived++;
        agent.destroy();
      });
    }
    console.log(`random control messages: ${JSON.stringify(outcomes)}`);
  }, 60_000 + SESSIONS * 500);

  test('a dial with a valid token but an HTTP/1 request instead of a tunnel', async () => {
    await attack(async () => {
      const socket = await dialEdge(edge.serverUrl, malloryToken);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.resume();
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await expectClosed(closed, 'HTTP/1 on a tunnel');
    });
  });
});

/** A session that completes the handshake, then sends 20 frames of random type, flags, stream and length. */
async function randomFrameSession(random: SeededRandom): Promise<void> {
  const agent = await HostileRawAgent.connect(edge.serverUrl, malloryToken);
  await agent.handshake();
  for (let i = 0; i < 20; i++) {
    agent.write(frame(random.int(0, 11), random.int(0, 255), random.int(0, 7), random.bytes(random.int(0, 199))));
  }
  // Some random frames are harmless (unknown types must be ignored): end it ourselves.
  await Promise.race([agent.closed, new Promise((resolve) => setTimeout(resolve, 500))]);
  agent.destroy();
}
