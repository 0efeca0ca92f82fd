import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { Agent } from '../../agent/agent.js';
import { closedPort, startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange, visit } from '../helpers/visitor.js';

// Every agent offers the frame mux; `http2` is what an agent or edge from before it speaks.
describe.each([['raw', 'frames'], ['ws', 'frames'], ['raw', 'http2']] as const)('HTTP through a %s tunnel (%s mux)', (transport, mux) => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  const name = `web-${transport}-${mux}`;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name }], { transport, mux });
  });

  test(`the edge and agent agreed on the ${mux} mux`, () => {
    const up = edge.logs().split('\n').filter((line) => line.includes('"msg":"tunnel up"')).map((line) => JSON.parse(line) as { mux?: string });
    expect(up.map((line) => line.mux)).toEqual([mux]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('the agent is told its public URL', () => {
    expect(agent.routes).toEqual([expect.objectContaining({ kind: 'http', name, url: `http://${name}.localhost:${edge.edge.httpPort}` })]);
  });

  test('a request reaches the origin with X-Forwarded-For/-Proto/-Host set', async () => {
    const response = await visit(edge, name, '/echo?x=1', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(response.status).toBe(200);
    const seen = JSON.parse(response.body);
    expect(seen.url).toBe('/echo?x=1');
    expect(seen.headers.host).toBe(hostFor(edge, name));
    // The visitor's own value is dropped (test/e2e/forwarded-headers.test.ts has the rest).
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(hostFor(edge, name));
  });

  test('names are case-insensitive in the Host header', async () => {
    const response = await visit(edge, name.toUpperCase(), '/echo');
    expect(response.status).toBe(200);
  });

  test('keep-alive: many requests on one visitor connection all arrive intact', async () => {
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    keepAlive.on('free', (socket) => sockets.add(socket));
    for (let i = 0; i < 50; i++) {
      const response = await visit(edge, name, `/echo?i=${i}`, { agent: keepAlive });
      expect(JSON.parse(response.body).url).toBe(`/echo?i=${i}`);
    }
    expect(sockets.size).toBe(1);
    keepAlive.destroy();
  });

  test('200 concurrent requests all complete (no stream leak or stall)', async () => {
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => visit(edge, name, `/echo?c=${i}`)));
    expect(responses.every((r, i) => r.status === 200 && JSON.parse(r.body).url === `/echo?c=${i}`)).toBe(true);
  });

  test('a request body goes through (POST)', async () => {
    const body = 'x'.repeat(100_000);
    const response = await visit(edge, name, '/upload', { method: 'POST', body });
    expect(JSON.parse(response.body).length).toBe(100_000);
  });

  test('a WebSocket through the tunnel echoes', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.edge.httpPort}/ws`, { headers: { host: hostFor(edge, name) } });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('hi through the tunnel');
    expect(await echoed).toBe('hi through the tunnel');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const echoedBig = new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer)));
    ws.send(big);
    expect((await echoedBig).equals(big)).toBe(true);
    ws.close();
  });

  test('a request-smuggling attempt (Content-Length and Transfer-Encoding) is refused with 400, never forwarded', async () => {
    const reply = await rawExchange(edge, `POST /upload HTTP/1.1\r\nHost: ${hostFor(edge, name)}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`);
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(reply).toContain('both Content-Length and Transfer-Encoding');
  });

  test('a request for another name on the same connection is refused with 421', async () => {
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await visit(edge, name, '/echo', { agent: keepAlive });
    // Same socket, other Host: the edge routed the connection by its first request.
    const response = await visit(edge, name, '/echo', { agent: keepAlive, headers: { host: `other.localhost:${edge.edge.httpPort}` } });
    expect(response.status).toBe(421);
    keepAlive.destroy();
  });
});

describe('edge pages', () => {
  let edge: TestEdge;
  beforeAll(async () => { edge = await startTestEdge(); });
  afterAll(async () => { await edge?.close(); });

  test('an unknown name gets a 404 page that says so, HTML for browsers and text otherwise', async () => {
    const text = await visit(edge, 'nobody-here', '/');
    expect(text.status).toBe(404);
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    expect(text.body).toContain('nobody-here.localhost is not a name');
    const html = await visit(edge, 'nobody-here', '/', { headers: { accept: 'text/html' } });
    expect(html.status).toBe(404);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('No such name');
  });

  test('the apex serves the landing page and health check', async () => {
    expect((await visit(edge, null, '/')).body).toContain('udns on localhost');
    expect((await visit(edge, null, '/healthz')).body).toBe('ok\n');
  });

  test('the API refuses a missing or wrong token with 401', async () => {
    expect((await visit(edge, null, '/api/v1/me')).status).toBe(401);
    expect((await visit(edge, null, '/api/v1/me', { headers: { authorization: 'Bearer udns_wrong' } })).status).toBe(401);
    const ok = await visit(edge, null, '/api/v1/me', { headers: { authorization: `Bearer ${edge.adminToken}` } });
    expect(JSON.parse(ok.body).account).toBe('admin');
  });

  test('a malformed request gets 400, and the edge keeps serving', async () => {
    const reply = await rawExchange(edge, 'THIS IS NOT HTTP\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await visit(edge, null, '/healthz')).status).toBe(200);
  });
});

describe('local service down', () => {
  test('the visitor gets a 502 that says the local port refused', async () => {
    const edge = await startTestEdge();
    const port = await closedPort();
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: port, name: 'downhere' }]);
    try {
      const text = await visit(edge, 'downhere', '/');
      expect(text.status).toBe(502);
      expect(text.body).toContain(`refused the connection`);
      expect(text.body).toContain(`127.0.0.1:${port}`);
      const html = await visit(edge, 'downhere', '/', { headers: { accept: 'text/html' } });
      expect(html.body).toContain('<h1>Local port refused</h1>');
    } finally {
      agent.stop();
      await edge.close();
    }
  });
});
