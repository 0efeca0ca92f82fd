import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { HostileMuxAgent } from '../helpers/hostile-agent.js';
import { eventually } from '../helpers/eventually.js';
import { makeShareFixture, type ShareFixture } from '../helpers/share-fixtures.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/** An origin that counts the requests (and TCP connections) it got and keeps their headers. */
async function startCountingOrigin(): Promise<{ port: number; requests: http.IncomingHttpHeaders[]; connections: () => number; close(): Promise<void> }> {
  const requests: http.IncomingHttpHeaders[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin saw ${req.url}`);
  });
  server.on('connection', () => { connections++; });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP echo server that counts the connections it accepted. */
async function startCountingEcho(): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * Writes `text` on a connection to the edge from `localAddress` and returns everything read
 * until the edge closes it.
 */
function rawExchange(edge: TestEdge, text: string, from: { host?: string; localAddress?: string } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: edge.edge.httpPort, host: from.host ?? '127.0.0.1', ...(from.localAddress ? { localAddress: from.localAddress } : {}) });
    let out = '';
    socket.on('data', (chunk) => { out += chunk; });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write(text);
  });
}

function get(edge: TestEdge, name: string, headers: Record<string, string> = {}, from: { host?: string; localAddress?: string } = {}): Promise<string> {
  const host = `${name}.${edge.edge.config.domain}:${edge.edge.httpPort}`;
  const lines = Object.entries({ Host: host, Connection: 'close', ...headers }).map(([key, value]) => `${key}: ${value}`);
  return rawExchange(edge, `GET /page HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, from);
}

const statuses = (answer: string): number[] => [...answer.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((match) => Number(match[1]));

/** Opens a TCP connection from `from` and returns what came back and whether it was closed before the echo. */
function tcpExchange(port: number, host: string, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}), allowHalfOpen: true });
    let out = '';
    socket.on('data', (chunk) => { out += chunk; if (out === 'ping') socket.end(); });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write('ping');
  });
}

describe('route access control (--basic-auth, --allow-ip, --deny-ip)', () => {
  let edge: TestEdge;
  let origin: Awaited<ReturnType<typeof startCountingOrigin>>;
  let echo: Awaited<ReturnType<typeof startCountingEcho>>;
  const agents: Agent[] = [];
  let fixture: ShareFixture;

  beforeAll(async () => {
    // Dual-stack: visitors come from 127.0.0.x and ::1.
    edge = await startTestEdge({ bind: '::' });
    origin = await startCountingOrigin();
    echo = await startCountingEcho();
    fixture = makeShareFixture();
    agents.push(await startTestAgent(edge, [
      { kind: 'http', localPort: origin.port, name: 'locked', access: { basicAuth: [{ user: 'alice', password: 'correct horse' }, { user: 'bob', password: 'b:with colon' }] } },
      { kind: 'http', localPort: origin.port, name: 'only-two', access: { allowIp: ['127.0.0.2'] } },
      { kind: 'http', localPort: origin.port, name: 'no-six', access: { denyIp: ['::1/128'] } },
      { kind: 'http', localPort: origin.port, name: 'flooded', access: { basicAuth: [{ user: 'carol', password: 'hunter2-but-longer' }] } },
      { kind: 'tcp', localPort: echo.port, access: { allowIp: ['127.0.0.2/32'] } },
      { kind: 'tcp', localPort: echo.port, access: { denyIp: ['::1'] } },
      { kind: 'share', dir: fixture.root, name: 'both-locks', password: 'share-own-pw', access: { basicAuth: [{ user: 'dave', password: 'route-pw' }] } },
    ]));
  });
  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await origin?.close();
    await echo?.close();
    await edge?.close();
    fixture?.cleanup();
  });

  test('without credentials: 401 with a Basic challenge for the name, and the origin saw nothing', async () => {
    const before = origin.requests.length;
    const answer = await get(edge, 'locked');
    expect(statuses(answer)).toEqual([401]);
    expect(answer).toMatch(/\r\nWWW-Authenticate: Basic realm="locked"/);
    expect(answer).toMatch(/locked asks for a user name and password/);
    // A browser gets a page.
    const page = await get(edge, 'locked', { Accept: 'text/html' });
    expect(page).toMatch(/Content-Type: text\/html/);
    expect(page).toMatch(/<h1>Sign in required<\/h1>/);
    const wrong = await get(edge, 'locked', { Authorization: basic('alice', 'wrong') });
    expect(statuses(wrong)).toEqual([401]);
    const unknownUser = await get(edge, 'locked', { Authorization: basic('mallory', 'correct horse') });
    expect(statuses(unknownUser)).toEqual([401]);
    expect(origin.requests.length).toBe(before);
    expect(edge.logs()).not.toContain('correct horse');
  });

  test('with credentials: 200, and the origin never sees the Authorization header', async () => {
    const before = origin.requests.length;
    const answer = await get(edge, 'locked', { Authorization: basic('alice', 'correct horse') });
    expect(statuses(answer)).toEqual([200]);
    // A password holding a colon: only the user name ends at the first one.
    expect(statuses(await get(edge, 'locked', { Authorization: basic('bob', 'b:with colon') }))).toEqual([200]);
    expect(origin.requests.length).toBe(before + 2);
    expect(origin.requests.at(-1)!.authorization).toBeUndefined();
  });

  test('a kept-alive connection: its 2nd request without credentials gets 401, the connection closes, the origin saw only the 1st', async () => {
    const before = origin.requests.length;
    const host = `locked.${edge.edge.config.domain}:${edge.edge.httpPort}`;
    const answer = await rawExchange(edge,
      `GET /first HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${basic('alice', 'correct horse')}\r\n\r\n`
      + `GET /second HTTP/1.1\r\nHost: ${host}\r\n\r\n`
      + `GET /third HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${basic('alice', 'correct horse')}\r\n\r\n`);
    expect(statuses(answer)).toEqual([200, 401]);
    expect(answer).toMatch(/WWW-Authenticate: Basic realm="locked"/);
    expect(origin.requests.length).toBe(before + 1);
    // A wrong password on a later request is refused the same way.
    const wrongLater = await rawExchange(edge,
      `GET /first HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${basic('alice', 'correct horse')}\r\n\r\n`
      + `GET /second HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${basic('alice', 'nope')}\r\n\r\n`);
    expect(statuses(wrongLater)).toEqual([200, 401]);
    expect(origin.requests.length).toBe(before + 2);
  });

  test('a flood of wrong passwords from one network gets 429, another network is unaffected', async () => {
    const flood: number[] = [];
    for (let i = 0; i < 14; i++) {
      const answer = await get(edge, 'flooded', { Authorization: basic('carol', `guess-${i}`) }, { localAddress: '127.0.0.3' });
      flood.push(statuses(answer)[0]!);
      if (flood.at(-1) === 429) expect(answer).toMatch(/\r\nRetry-After: \d+\r\n/);
    }
    expect(flood.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(flood.slice(10)).toEqual([429, 429, 429, 429]);
    // Even the right password gets no answer from that network now.
    expect(statuses(await get(edge, 'flooded', { Authorization: basic('carol', 'hunter2-but-longer') }, { localAddress: '127.0.0.3' }))).toEqual([429]);
    // Another network still gets in.
    expect(statuses(await get(edge, 'flooded', { Authorization: basic('carol', 'hunter2-but-longer') }, { localAddress: '127.0.0.4' }))).toEqual([200]);
  });

  test('--allow-ip / --deny-ip on http routes, IPv4 and IPv6', async () => {
    const before = origin.requests.length;
    const refused = await get(edge, 'only-two', {}, { localAddress: '127.0.0.1' });
    expect(statuses(refused)).toEqual([403]);
    expect(statuses(await get(edge, 'only-two', {}, { host: '::1' }))).toEqual([403]);
    expect(statuses(await get(edge, 'only-two', {}, { localAddress: '127.0.0.2' }))).toEqual([200]);
    expect(statuses(await get(edge, 'no-six', {}, { host: '::1' }))).toEqual([403]);
    expect(statuses(await get(edge, 'no-six', {}, { localAddress: '127.0.0.1' }))).toEqual([200]);
    expect(origin.requests.length).toBe(before + 2);
  });

  test('--allow-ip / --deny-ip on tcp routes: a refused connection closes before the agent connects to the local port', async () => {
    const [allowTwo, denySix] = agents[0]!.routes.filter((route) => route.kind === 'tcp');
    const before = echo.accepted();
    expect(await tcpExchange(allowTwo!.port!, '127.0.0.1', '127.0.0.1')).toBe('');
    expect(await tcpExchange(allowTwo!.port!, '::1')).toBe('');
    expect(await tcpExchange(denySix!.port!, '::1')).toBe('');
    expect(echo.accepted()).toBe(before);
    expect(await tcpExchange(allowTwo!.port!, '127.0.0.1', '127.0.0.2')).toBe('ping');
    expect(await tcpExchange(denySix!.port!, '127.0.0.1')).toBe('ping');
    await eventually('two accepted connections', () => (echo.accepted() === before + 2 ? true : undefined));
  });

  test('the edge refuses a RegisterRoute with a malformed network (routeRefused), and the tunnel lives on', async () => {
    const hostile = await HostileMuxAgent.connect(edge.serverUrl, edge.adminToken);
    try {
      await hostile.hello();
      hostile.send({ type: 'registerRoute', requestId: 1, kind: 'http', name: 'bad-cidr', target: 'x', access: { allowIp: ['10.0.0.1/8'] } });
      const refused = await hostile.waitFor('routeRefused', (message) => message.requestId === 1);
      expect(refused).toMatchObject({ code: 'route_invalid' });
      expect(String(refused.message)).toMatch(/10\.0\.0\.0\/8/);
      hostile.send({ type: 'registerRoute', requestId: 2, kind: 'tcp', target: 'x', access: { basicAuth: { kdf: 'scrypt-4096-8-1', users: [{ user: 'a', salt: '0'.repeat(32), hash: '0'.repeat(64) }] } } });
      expect(await hostile.waitFor('routeRefused', (message) => message.requestId === 2)).toMatchObject({ code: 'route_invalid' });
      // Nothing was registered: the name is still free for anyone of this account.
      expect(statuses(await get(edge, 'bad-cidr'))).not.toContain(200);
      expect((await hostile.register(3, 'good-after-bad')).type).toBe('routeRegistered');
    } finally {
      hostile.destroy();
    }
  });

  test('a share with --basic-auth and its own --password: Basic for the route, then the share\'s login page (no second Basic challenge)', async () => {
    const host = `both-locks.${edge.edge.config.domain}:${edge.edge.httpPort}`;
    const route = basic('dave', 'route-pw');
    expect(statuses(await get(edge, 'both-locks'))).toEqual([401]);
    // Past the route's gate, the share asks for its password without a Basic challenge, which
    // the browser would answer with the route's credentials replaced.
    const sharePrompt = await get(edge, 'both-locks', { Authorization: route });
    expect(statuses(sharePrompt)).toEqual([401]);
    expect(sharePrompt).not.toMatch(/WWW-Authenticate/i);
    expect(sharePrompt).toMatch(/log in at \/\.udns\/login/);
    const browser = await get(edge, 'both-locks', { Authorization: route, Accept: 'text/html' });
    expect(browser).toMatch(/^HTTP\/1\.1 303 .*\r\nLocation: \/\.udns\/login\?next=/s);
    const form = 'password=share-own-pw&next=%2F';
    const login = await rawExchange(edge, `POST /.udns/login HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${route}\r\nOrigin: http://${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\nConnection: close\r\n\r\n${form}`);
    expect(statuses(login)).toEqual([303]);
    const cookie = /\r\nSet-Cookie: ([^;]+);/i.exec(login)![1]!;
    expect(statuses(await rawExchange(edge, `GET /hello.txt HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${route}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`))).toEqual([200]);
    // No transfer tickets for it: a direct or push connection would pass by the route's rules.
    expect(edge.logs()).not.toContain('transfer port');
    // The share's cookie alone does not open the route.
    expect(statuses(await rawExchange(edge, `GET /hello.txt HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`))).toEqual([401]);
  });
});
