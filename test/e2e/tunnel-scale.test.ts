import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor } from '../helpers/visitor.js';

/*
 * One tunnel carries more concurrent streams than the old fixed 999 (an agent advertised 1000
 * HTTP/2 streams and the edge refused a higher --max-visitors-per-tunnel), and past its limit a
 * visitor gets a clear 503 while everything already open goes on. Needs about 5,000 file
 * descriptors (visitors, edge, agent and origin share this process).
 */

const HELD = 1200;
const PER_NETWORK = 400;
/** Four loopback networks hold 300 each: under the per-network limit, so the tunnel's limit is what refuses. */
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

function openWebSocket(edge: TestEdge, name: string, localAddress: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.edge.httpPort}/ws`, { headers: { host: hostFor(edge, name) }, localAddress, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** One request on a new connection from `localAddress`; resolves with everything the edge sent until it closed or the head ended. */
async function firstAnswer(edge: TestEdge, name: string, localAddress: string): Promise<{ text: string; socket: net.Socket }> {
  const socket = net.connect({ port: edge.edge.httpPort, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const text = await new Promise<string>((resolve) => {
    let out = '';
    socket.on('data', (chunk) => { out += chunk; if (/\r\n\r\n[\s\S]*\S/.test(out)) resolve(out); });
    socket.on('close', () => resolve(out));
    socket.write(`GET /echo HTTP/1.1\r\nHost: ${hostFor(edge, name)}\r\n\r\n`);
  });
  return { text, socket };
}

function echoAll(sockets: WebSocket[], round: number): Promise<number> {
  return Promise.all(sockets.map((ws, i) => new Promise<boolean>((resolve) => {
    const expected = `round ${round} socket ${i}`;
    ws.once('message', (data) => resolve(String(data) === expected));
    ws.send(expected);
  }))).then((answers) => answers.filter(Boolean).length);
}

describe('tunnel scale', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  const held: WebSocket[] = [];

  beforeAll(async () => {
    edge = await startTestEdge({ maxVisitorsPerTunnel: HELD, maxVisitorsPerNetwork: PER_NETWORK });
    origin = await startHttpOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'crowd' }]);
  });
  afterAll(async () => {
    for (const ws of held) ws.terminate();
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test(`regression: one tunnel carries ${HELD} concurrent WebSockets (the old limit was 999), the next visitor gets 503 and nothing breaks`, async () => {
    for (let first = 0; first < HELD; first += 200) {
      held.push(...await Promise.all(Array.from({ length: 200 }, (_, i) => openWebSocket(edge, 'crowd', SOURCES[(first + i) % SOURCES.length]!))));
    }
    let closedEarly = 0;
    for (const ws of held) ws.once('close', () => { closedEarly++; });
    expect(await echoAll(held, 1)).toBe(HELD);

    // Full: a newcomer from a fresh network is refused with a 503 that says why, over plain HTTP and as a WebSocket.
    const refused = await firstAnswer(edge, 'crowd', '127.0.0.6');
    refused.socket.destroy();
    expect(refused.text).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.text).toContain('Retry-After: 5');
    expect(refused.text).toContain('too many open connections');
    await expect(openWebSocket(edge, 'crowd', '127.0.0.6')).rejects.toThrow('HTTP 503');

    // Nothing broke: the same tunnel, every WebSocket still open and echoing.
    expect(edge.edge.tunnelCount()).toBe(1);
    expect(await echoAll(held, 2)).toBe(HELD);
    expect(closedEarly).toBe(0);

    // Room again once some leave.
    for (const ws of held.splice(0, 10)) ws.close();
    const admitted = await eventually('a newcomer to be served once some WebSockets closed', async () => {
      const attempt = await firstAnswer(edge, 'crowd', '127.0.0.6');
      attempt.socket.destroy();
      return /^HTTP\/1\.1 200 /.test(attempt.text) ? attempt.text : undefined;
    });
    expect(admitted).toContain('"host"');
  });
});
