import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { Agent } from '../../agent/agent.js';
import { closedPort } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange } from '../helpers/visitor.js';

/** A WebSocket echo origin that keeps the headers of every upgrade and plain request it got. */
async function startWebSocketOrigin(): Promise<{ port: number; upgrades: http.IncomingHttpHeaders[]; requests: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const upgrades: http.IncomingHttpHeaders[] = [];
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin saw ${req.url}`);
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push(req.headers);
    socket.on('error', () => {});
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    upgrades,
    requests,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const statuses = (answer: string): number[] => [...answer.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((match) => Number(match[1]));

/** Opens a WebSocket to `name` through the edge: the open socket, or the status of the refusal. */
function openWebSocket(edge: TestEdge, name: string, headers: Record<string, string> = {}, port = edge.edge.httpPort): Promise<{ ws: WebSocket } | { status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: hostFor(edge, name), ...headers } });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** A WebSocket upgrade request head, as a client sends it. */
const upgradeHead = (host: string, authorization: string): string =>
  `GET /ws HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${authorization}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
  + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

describe('WebSocket upgrades through a route with --basic-auth', () => {
  let edge: TestEdge;
  let origin: Awaited<ReturnType<typeof startWebSocketOrigin>>;
  let agent: Agent;
  let directPort: number;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startWebSocketOrigin();
    directPort = await closedPort();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'live', directPort, access: { basicAuth: [{ user: 'alice', password: 'correct horse' }] } }]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('with the right credentials the WebSocket opens and echoes, and the origin never sees the Authorization header', async () => {
    const opened = await openWebSocket(edge, 'live', { authorization: basic('alice', 'correct horse') });
    if (!('ws' in opened)) throw new Error(`upgrade refused with ${opened.status}`);
    const echoed = new Promise<string>((resolve) => opened.ws.once('message', (data) => resolve(String(data))));
    opened.ws.send('hello past the gate');
    expect(await echoed).toBe('hello past the gate');
    opened.ws.close();
    expect(origin.upgrades).toHaveLength(1);
    expect(origin.upgrades[0]!.upgrade).toBe('websocket');
    expect(origin.upgrades[0]!.authorization).toBeUndefined();
  });

  test('without credentials, or with wrong ones, the upgrade gets 401 and the origin sees no upgrade', async () => {
    const before = origin.upgrades.length;
    expect(await openWebSocket(edge, 'live')).toEqual({ status: 401, challenge: 'Basic realm="live", charset="UTF-8"' });
    expect(await openWebSocket(edge, 'live', { authorization: basic('alice', 'wrong') })).toMatchObject({ status: 401 });
    expect(await openWebSocket(edge, 'live', { authorization: basic('mallory', 'correct horse') })).toMatchObject({ status: 401 });
    expect(origin.upgrades.length).toBe(before);
  });

  test('an upgrade as the 2nd request of a kept-alive connection: wrong credentials get 401 from the agent; right ones never switch', async () => {
    const host = hostFor(edge, 'live');
    const requestsBefore = origin.requests.length;
    const upgradesBefore = origin.upgrades.length;
    const first = `GET /first HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${basic('alice', 'correct horse')}\r\n\r\n`;
    // The edge checked the first request only: the second is the agent's to refuse.
    const wrong = await rawExchange(edge, first + upgradeHead(host, basic('alice', 'nope')));
    expect(statuses(wrong)).toEqual([200, 401]);
    expect(wrong).toMatch(/WWW-Authenticate: Basic realm="live"/);
    expect(origin.requests.length).toBe(requestsBefore + 1);
    // Right credentials: the request goes on, but a later request may not switch protocols.
    const right = await rawExchange(edge, `${first}${upgradeHead(host, basic('alice', 'correct horse')).replace('Connection: Upgrade', 'Connection: Upgrade, close')}`);
    expect(statuses(right)).toEqual([200, 200]);
    expect(origin.requests.length).toBe(requestsBefore + 3);
    expect(origin.requests.at(-1)!.upgrade).toBeUndefined();
    expect(origin.requests.at(-1)!.authorization).toBeUndefined();
    expect(origin.upgrades.length).toBe(upgradesBefore);
  });

  test('direct mode (no edge in between): the agent alone refuses an upgrade without credentials and lets the right ones through', async () => {
    const before = origin.upgrades.length;
    expect(await openWebSocket(edge, 'live', {}, directPort)).toMatchObject({ status: 401 });
    expect(await openWebSocket(edge, 'live', { authorization: basic('alice', 'wrong') }, directPort)).toMatchObject({ status: 401 });
    expect(origin.upgrades.length).toBe(before);
    const opened = await openWebSocket(edge, 'live', { authorization: basic('alice', 'correct horse') }, directPort);
    if (!('ws' in opened)) throw new Error(`direct upgrade refused with ${opened.status}`);
    const echoed = new Promise<string>((resolve) => opened.ws.once('message', (data) => resolve(String(data))));
    opened.ws.send('hello, directly');
    expect(await echoed).toBe('hello, directly');
    opened.ws.close();
    expect(origin.upgrades.at(-1)!.authorization).toBeUndefined();
  });
});
