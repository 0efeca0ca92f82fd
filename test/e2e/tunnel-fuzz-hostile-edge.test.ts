import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, MAX_CONTROL_FRAME_BYTES, PROTOCOL_VERSION, type UdnsError } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { Flag, FrameType, data, frame, headers, hpack } from '../helpers/h2-frames.js';
import { EdgeSession, HostileEdge, RawEdgeSession, type EdgeScript } from '../helpers/hostile-edge.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';

/*
 * Tunnel protocol fuzz, hostile edge side (issue 8): a fake edge (the raw upgrade and HTTP/2 of
 * server/tunnel/tunnel-endpoint.ts) sends the real agent bad control messages, malformed visitor
 * streams and broken frames. The agent must not crash, must refuse what is wrong (ending that
 * session when the edge broke the protocol), and come back through the next, well-behaved one.
 */

/**
 * How long a broken session may last on the agent: a frame-level error ends nghttp2's session
 * without a word to JavaScript, and the heartbeat notices (see the hostile-agent test).
 */
const SESSION_END_BOUND_MS = HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS + 10_000;

let origin: Origin;
let edge: HostileEdge;
let agent: Agent;
const lines: string[] = [];
let fatal: UdnsError | null = null;

beforeAll(async () => {
  origin = await startHttpOrigin();
  edge = await HostileEdge.start();
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } }));
  agent = await startAgent({ serverUrl: edge.serverUrl, token: 'udns_hostile_edge_test', routes: [{ kind: 'http', localPort: origin.port, name: 'home' }] }, logger);
  agent.on('fatal', (error: UdnsError) => { fatal = error; });
});
afterAll(async () => {
  agent?.stop();
  await edge?.close();
  await origin?.close();
});

/** Log lines of the agent since `offset` at `level` (40 warn, 50 error) or above. */
const loggedSince = (offset: number, level: number): string[] =>
  lines.slice(offset).filter((line) => (JSON.parse(line) as { level: number }).level >= level);

/**
 * Drops the agent's current (well-behaved) session so that its reconnect meets `script`; then
 * waits for the agent to be back through a new well-behaved session and serving through it.
 * With `agentEnds`, the hostile session must be ended by the agent (the script leaves it open).
 */
async function hostileRound(script: EdgeScript, options: { agentEnds: boolean; boundMs?: number }): Promise<string[]> {
  const logOffset = lines.length;
  const sessionsBefore = edge.sessions.length;
  let hostileClosed: Promise<void> | null = null;
  let met = false;
  edge.scripts.push(async (transport) => {
    met = true;
    hostileClosed = new Promise((resolve) => transport.once('close', () => resolve()));
    await script(transport);
  });
  (await edge.current()).destroy();
  const bound = options.boundMs ?? 15_000;
  await eventually('the agent to meet the hostile session', () => (met ? true : undefined));
  if (options.agentEnds) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([hostileClosed!, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the agent did not end the hostile session')), bound); })]);
    clearTimeout(timer);
  }
  const session = await eventually('a new well-behaved session', async () => {
    if (edge.sessions.length <= sessionsBefore) return undefined;
    return edge.current();
  }, { timeoutMs: bound + 10_000 });
  expect(await session.served()).toBe('HTTP/1.1 200 OK');
  expect(fatal).toBeNull();
  expect(loggedSince(logOffset, 50)).toEqual([]);
  return loggedSince(logOffset, 40);
}

/** A script on the protocol module's mux: waits for the hello, then `act`. */
const muxScript = (act: (session: EdgeSession) => void | Promise<void>): EdgeScript => async (transport) => {
  const session = new EdgeSession(transport);
  await session.waitFor('hello');
  await act(session);
};

const welcome = { type: 'welcome', protocolVersion: PROTOCOL_VERSION, edgeVersion: 'x', account: 'admin', tunnelId: 't' };

describe('a hostile edge against the agent: no crash, the session refused, the agent back through the next one', () => {
  const badWelcomes: Array<[string, string | Buffer]> = [
    ['a welcome that is not JSON', '{nope\n'],
    ['a welcome of another protocol version', `${JSON.stringify({ ...welcome, protocolVersion: 99 })}\n`],
    ['a welcome with a field missing', `${JSON.stringify({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, edgeVersion: 'x' })}\n`],
    ['a welcome with an extra field', `${JSON.stringify({ ...welcome, admin: true })}\n`],
    ['a welcome with wrong field types', `${JSON.stringify({ ...welcome, account: 42 })}\n`],
    ['an agent message instead of a welcome', `${JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'x' })}\n`],
    ['a control line over MAX_CONTROL_FRAME_BYTES', 'x'.repeat(MAX_CONTROL_FRAME_BYTES + 1)],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x0a])],
  ];
  test.each(badWelcomes)('%s', async (_name, line) => {
    const warnings = await hostileRound(muxScript((session) => session.write(line)), { agentEnds: true });
    expect(warnings.join('\n')).toContain('control channel failed');
  });

  test('a second welcome ends the session and the route stays (the agent registered every route again; a real edge refuses those and the agent dropped them all)', async () => {
    await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.registerAll();
      expect(await session.served()).toBe('HTTP/1.1 200 OK');
      session.send(welcome);
    }), { agentEnds: true });
    // Still published under its name on the next session.
    expect((await edge.current()).messages.find((m) => m.type === 'registerRoute')).toMatchObject({ name: 'home' });
  });

  test('routeRegistered and routeRefused for requests never made are ignored', async () => {
    await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.waitFor('registerRoute');
      session.send({ type: 'routeRegistered', requestId: 77, routeId: 'ghost', kind: 'http', name: 'ghost', url: 'http://ghost.localhost' });
      session.send({ type: 'routeRefused', requestId: 78, code: 'name_taken', message: 'no' });
      await session.registerAll();
      expect(await session.served()).toBe('HTTP/1.1 200 OK');
      // Visitor streams for the ghost route are refused: it was never the agent's.
      const ghost = session.openVisitor('ghost');
      const [answer] = await new Promise<[http2.IncomingHttpHeaders]>((resolve) => ghost.once('response', (h) => resolve([h])));
      expect(answer[':status']).toBe(404);
      session.destroy();
    }), { agentEnds: false });
  });

  test('routeRegistered with wrong field types is a protocol violation', async () => {
    const warnings = await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.waitFor('registerRoute');
      session.send({ type: 'routeRegistered', requestId: 0, routeId: 5, kind: 'http', url: 'x' });
    }), { agentEnds: true });
    expect(warnings.join('\n')).toContain('control channel failed');
  });

  test('visitor streams with malformed stream headers, or for unknown routes, are refused one by one', async () => {
    await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.registerAll();
      const routeId = session.routeIds[0]!;
      const base = { ':method': 'CONNECT', ':authority': 'visitor.udns', 'udns-route': routeId, 'udns-remote-address': '192.0.2.1', 'udns-remote-port': '5', 'udns-scheme': 'http', 'udns-host': 'home.localhost' };
      const malformed: http2.OutgoingHttpHeaders[] = [
        { ...base, 'udns-route': 'no-such-route' },
        { ...base, 'udns-route': 'r'.repeat(5000) },
        { ...base, 'udns-route': undefined },
        { ...base, 'udns-remote-port': 'abc' },
        { ...base, 'udns-remote-port': '70000' },
        { ...base, 'udns-remote-port': '-1' },
        { ...base, 'udns-remote-address': 'a'.repeat(10_000) },
        { ...base, 'udns-scheme': 'gopher' },
        { ...base, 'udns-host': 'h'.repeat(8000) },
        { ...base, ':authority': 'elsewhere' },
        { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'visitor.udns', 'udns-route': routeId },
        { ...base, 'udns-remote-port': ['1', '2'] },
      ];
      const statuses = await Promise.all(malformed.map((raw) => new Promise<unknown>((resolve) => {
        const stream = session.openVisitor(routeId, raw);
        stream.once('response', (h) => resolve(h[':status']));
        stream.once('close', () => resolve(`closed ${stream.rstCode}`));
        stream.end();
      })));
      expect(statuses.every((status) => status !== 200)).toBe(true);
      // A visitor stream reset as soon as it opens, one ended at once, and one carrying no HTTP.
      session.openVisitor(routeId).close(http2.constants.NGHTTP2_CANCEL);
      session.openVisitor(routeId).end();
      const junk = session.openVisitor(routeId);
      junk.end(randomBytes(4096));
      junk.resume();
      await new Promise((resolve) => junk.once('close', resolve));
      expect(await session.served(routeId)).toBe('HTTP/1.1 200 OK');
      session.destroy();
    }), { agentEnds: false });
  });

  test('a second control stream ends the session (the agent ran two control channels side by side)', async () => {
    await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.registerAll();
      const second = session.mux.request({ ':method': 'CONNECT', ':authority': 'control.udns' }, { endStream: false });
      second.on('error', () => {});
    }), { agentEnds: true });
  });

  test('cancelStream, routeClosed and directChecked for ids the agent does not have are ignored; a message refused once online ends the session (the agent stayed online with no control stream)', async () => {
    await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.registerAll();
      for (const streamId of [1, 2, 3, 999_999, 2 ** 31, Number.MAX_SAFE_INTEGER]) session.send({ type: 'cancelStream', streamId });
      session.send({ type: 'routeClosed', routeId: 'ghost', code: 'replaced', message: 'x' });
      session.send({ type: 'directChecked', routeId: 'ghost', reachable: true, address: '192.0.2.1', port: 80 });
      expect(await session.served()).toBe('HTTP/1.1 200 OK');
      session.send({ type: 'cancelStream', streamId: -1 });
    }), { agentEnds: true });
  });

  test('the edge never welcomes: the agent gives up at its handshake deadline and reconnects', async () => {
    await hostileRound(muxScript(() => {}), { agentEnds: true, boundMs: HANDSHAKE_TIMEOUT_MS + 10_000 });
  }, 60_000);

  test('the edge ending the control stream ends the session (the agent stayed online without one)', async () => {
    await hostileRound(muxScript(async (session) => {
      session.send(welcome);
      await session.registerAll();
      session.control.end();
    }), { agentEnds: true });
  });

  const rawAbuse: Array<[string, (session: RawEdgeSession) => void]> = [
    ['garbage instead of the HTTP/2 preface', (session) => session.write(randomBytes(4096))],
    ['a DATA frame larger than the agent allows', (session) => session.write(data(1, Buffer.alloc(200_000)))],
    ['a control line dribbled in one-byte DATA frames past the limit', (session) => {
      for (let i = 0; i <= MAX_CONTROL_FRAME_BYTES; i++) session.write(data(1, 'x'));
    }],
    ['a visitor stream whose HPACK does not decode', (session) => session.write(headers(3, Buffer.from([0x80])))],
    ['a header block of 1.6 MB in CONTINUATION frames', (session) => {
      session.write(frame(FrameType.HEADERS, 0, 3, hpack([[':method', 'CONNECT'], [':authority', 'visitor.udns']])));
      for (let i = 0; i < 100; i++) session.write(frame(FrameType.CONTINUATION, i === 99 ? Flag.END_HEADERS : 0, 3, hpack([[`x-${i}`, 'v'.repeat(16_000)]])));
    }],
    ['a stream the agent would have to open (even id)', (session) => session.write(headers(2, hpack([[':method', 'CONNECT'], [':authority', 'visitor.udns']])))],
  ];
  test.each(rawAbuse)('raw frames: %s', async (name, abuse) => {
    await hostileRound(async (transport) => {
      const session = new RawEdgeSession(transport);
      if (name !== 'garbage instead of the HTTP/2 preface') await session.handshake();
      abuse(session);
    }, { agentEnds: true, boundMs: SESSION_END_BOUND_MS });
  }, 90_000);

  test('raw frames: 10,000 visitor streams at once, refused by route or by the stream limit, then a session error: no crash (each refused stream still open had no error listener: 999 uncaught exceptions)', async () => {
    await hostileRound(async (transport) => {
      const session = new RawEdgeSession(transport);
      await session.handshake();
      for (let id = 3; id < 20_003; id += 2) session.write(headers(id, hpack([[':method', 'CONNECT'], [':authority', 'visitor.udns'], ['udns-route', 'none']])));
      // Every stream gets an answer: a 404 for the unknown route, or a reset past the limit.
      await eventually('an answer to every stream', () => {
        const answered = new Set(session.frames.filter((f) => (f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM) && f.streamId > 1).map((f) => f.streamId));
        return answered.size === 10_000 ? true : undefined;
      }, { timeoutMs: 30_000 });
      session.destroy();
    }, { agentEnds: false });
  }, 60_000);
});
