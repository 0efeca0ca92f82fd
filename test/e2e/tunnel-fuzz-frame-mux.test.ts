import http from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { FRAME_MUX_TOKEN, MUX_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION, RAW_UPGRADE_PROTOCOL, TUNNEL_PATH } from '../../protocol/index.js';
import { FrameType, frameHeader, numberFrame, smallFrame } from '../../protocol/frame-mux/frame-codec.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { randomFrame } from '../helpers/frame-mux-fuzz.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/*
 * The frame mux against a hostile agent: a token holder who offers the frame mux and then sends
 * anything (random frames, valid ones out of order, lies about lengths and credit). The edge
 * must stay up, serve the good agent throughout, end only the hostile session, log no error of
 * its own, and keep nothing of it.
 */

const SESSIONS = Number(process.env.UDNS_TUNNEL_FUZZ_SESSIONS ?? 40);
const SEED = Number(process.env.UDNS_FUZZ_SEED ?? 20261203);
const PARALLEL = 10;

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

/** Upgrades to a tunnel offering the frame mux; fails unless the edge agrees to it. */
function dialFrames(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(TUNNEL_PATH, edge.serverUrl), {
      method: 'GET',
      agent: false,
      headers: {
        Connection: 'Upgrade', Upgrade: RAW_UPGRADE_PROTOCOL, Authorization: `Bearer ${malloryToken}`,
        [PROTOCOL_HEADER]: String(PROTOCOL_VERSION), [MUX_HEADER]: FRAME_MUX_TOKEN,
      },
    });
    req.on('upgrade', (res, socket, head) => {
      socket.on('error', () => {});
      if (res.headers[MUX_HEADER] !== FRAME_MUX_TOKEN) reject(new Error('the edge did not agree to the frame mux'));
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      res.resume();
      reject(new Error(`the edge answered ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}

const settings = (): Buffer => numberFrame(FrameType.SETTINGS, 0, 1, 1000);
const errorsLoggedSince = (offset: number): string[] =>
  edge.logs().slice(offset).split('\n').filter((line) => /"level":(50|60)/.test(line));

/** The control stream's hello, as a real agent would send it on stream 1. */
function hello(): Buffer {
  const line = Buffer.from(`${JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'hostile' })}\n`);
  return Buffer.concat([smallFrame(FrameType.RESPONSE, 1, Buffer.from('{":status":"200"}')), smallFrame(FrameType.DATA, 1, line)]);
}

async function session(random: SeededRandom): Promise<void> {
  const socket = await dialFrames();
  socket.resume();
  const frames: Buffer[] = [];
  if (random.chance(0.9)) frames.push(settings());
  if (random.chance(0.5)) frames.push(hello());
  const count = random.int(1, 40);
  for (let i = 0; i < count; i += 1) frames.push(randomFrame(random));
  const wire = Buffer.concat(frames);
  // Sometimes cut into pieces at random places, to split headers and payloads across reads.
  let at = 0;
  while (at < wire.length && !socket.destroyed) {
    const size = random.chance(0.5) ? wire.length - at : random.int(1, 64);
    socket.write(wire.subarray(at, at + size));
    at += size;
  }
  await new Promise((resolve) => setTimeout(resolve, random.int(0, 50)));
  if (random.chance(0.5)) socket.end();
  else socket.destroy();
}

describe('a hostile agent on the frame mux', () => {
  test(`${SESSIONS} sessions of random frames (seed ${SEED}): the edge stays up and keeps nothing`, async () => {
    const logOffset = edge.logs().length;
    const random = new SeededRandom(SEED);
    for (let done = 0; done < SESSIONS; done += PARALLEL) {
      await Promise.all(Array.from({ length: Math.min(PARALLEL, SESSIONS - done) }, () => session(new SeededRandom(random.int(0, 2 ** 31)))));
      expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
    }
    await eventually('only the good tunnel to be left', () => (edge.edge.tunnelCount() === 1 ? true : undefined), { timeoutMs: 30_000 });
    expect(goodOffline).toBe(0);
    expect(errorsLoggedSince(logOffset)).toEqual([]);
  });

  test('credit past 2^31 on the control stream ends that session only', async () => {
    const socket = await dialFrames();
    socket.resume();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(Buffer.concat([settings(), hello(), numberFrame(FrameType.WINDOW, 1, 2 ** 31 + 1)]));
    await closed;
    await eventually('only the good tunnel to be left', () => (edge.edge.tunnelCount() === 1 ? true : undefined));
    expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
  });

  test('a stream opened by the agent ends that session (the edge takes none)', async () => {
    const socket = await dialFrames();
    socket.resume();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(Buffer.concat([settings(), hello(), smallFrame(FrameType.OPEN, 2, Buffer.from('{}'))]));
    await closed;
    await eventually('only the good tunnel to be left', () => (edge.edge.tunnelCount() === 1 ? true : undefined));
  });

  test('a DATA frame that claims 4 GiB ends that session, not the edge', async () => {
    const socket = await dialFrames();
    socket.resume();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(Buffer.concat([settings(), hello(), frameHeader(FrameType.DATA, 1, 2 ** 32 - 1), Buffer.alloc(1024)]));
    await closed;
    expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
  });
});
