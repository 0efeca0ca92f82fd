import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Inspector } from './inspector.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw request to the inspector, with any Host and headers (fetch cannot set Host). */
function call(port: number, method: string, path: string, options: { host?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { host: options.host ?? `127.0.0.1:${port}`, ...options.headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode!, json: response.headers['content-type']?.includes('json') ? JSON.parse(text) : text });
      });
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

const json = { 'content-type': 'application/json' };

describe('the inspector\'s API: list, detail, replay (edited), refusals', () => {
  let origin: http.Server;
  let originPort: number;
  const seen: Seen[] = [];
  let inspector: Inspector;
  let port: number;
  let capturedId: number;

  beforeAll(async () => {
    origin = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ echo: request.url }));
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originPort = (origin.address() as AddressInfo).port;
    inspector = new Inspector({ port: 0, nextFreePort: false, replayTimeoutMs: 5000 });
    port = Number(new URL(await inspector.start()).port);
    // One exchange as a route's tap records it.
    const tap = inspector.tap({ route: 'alice.localhost', origin: { host: '127.0.0.1', port: originPort }, remoteAddress: '198.51.100.7' });
    const body = '{"name":"alice","items":[1,2]}';
    capturedId = tap.requestHead(Buffer.from(`POST /orders?x=1 HTTP/1.1\r\nHost: alice.localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n`), 'POST', '/orders?x=1').id;
    tap.requestBody(Buffer.from(body));
    tap.requestEnd();
    tap.responseBytes(Buffer.from('HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"id":42}'));
  });
  afterAll(async () => {
    inspector?.close();
    await new Promise((resolve) => origin?.close(resolve));
  });

  test('lists and shows exchanges, and filters them by method, status class and text', async () => {
    const list = await call(port, 'GET', '/api/requests');
    expect(list.status).toBe(200);
    expect(list.json.requests).toEqual([expect.objectContaining({ id: capturedId, method: 'POST', path: '/orders?x=1', status: 201, state: 'complete', requestBytes: 30, responseBytes: 9 })]);
    const detail = await call(port, 'GET', `/api/requests/${capturedId}`);
    expect(detail.json.request.body).toMatchObject({ encoding: 'utf8', data: '{"name":"alice","items":[1,2]}', truncated: false, contentType: 'application/json' });
    expect(detail.json.response.body.data).toBe('{"id":42}');
    expect((await call(port, 'GET', '/api/requests?method=get')).json.requests).toEqual([]);
    expect((await call(port, 'GET', '/api/requests?status=2xx&method=POST')).json.requests).toHaveLength(1);
    expect((await call(port, 'GET', '/api/requests?status=4xx')).json.requests).toEqual([]);
    expect((await call(port, 'GET', '/api/requests?q=ALICE')).json.requests).toHaveLength(1);
    expect((await call(port, 'GET', '/api/requests?q=bob')).json.requests).toEqual([]);
    expect(await call(port, 'GET', '/api/requests?status=6xx')).toMatchObject({ status: 400, json: { error: { code: 'bad_request' } } });
  });

  test('a replay sends the request again to the local origin and records it as a new exchange marked as a replay', async () => {
    const before = seen.length;
    const replay = await call(port, 'POST', `/api/requests/${capturedId}/replay`, { headers: json, body: '{}' });
    expect(replay.status).toBe(201);
    expect(replay.json).toMatchObject({ replayOf: capturedId, method: 'POST', path: '/orders?x=1', status: 200, state: 'complete' });
    expect(replay.json.response.body.data).toBe('{"echo":"/orders?x=1"}');
    expect(seen.slice(before)).toEqual([expect.objectContaining({ method: 'POST', url: '/orders?x=1', body: '{"name":"alice","items":[1,2]}' })]);
    expect(seen.at(-1)!.headers.host).toBe('alice.localhost');
    const list = await call(port, 'GET', '/api/requests?status=replay');
    expect(list.json.requests.map((r: { id: number }) => r.id)).toEqual([replay.json.id]);
  });

  test('an edited replay sends the edits (method, path, headers, body)', async () => {
    const before = seen.length;
    const replay = await call(port, 'POST', `/api/requests/${capturedId}/replay`, {
      headers: json,
      body: JSON.stringify({ method: 'PUT', path: '/orders/7', headers: { Host: 'alice.localhost', 'X-Edited': 'yes', 'Content-Type': 'text/plain' }, body: 'edited body' }),
    });
    expect(replay.status).toBe(201);
    expect(seen.slice(before)).toEqual([expect.objectContaining({ method: 'PUT', url: '/orders/7', body: 'edited body' })]);
    expect(seen.at(-1)!.headers).toMatchObject({ 'x-edited': 'yes', 'content-type': 'text/plain', 'content-length': '11' });
    expect(replay.json).toMatchObject({ replayOf: capturedId, method: 'PUT', path: '/orders/7' });
  });

  test('a replay of an id never seen is a 404 with a clear JSON error, and nothing is sent', async () => {
    const before = seen.length;
    const replay = await call(port, 'POST', '/api/requests/99999/replay', { headers: json, body: '{}' });
    expect(replay.status).toBe(404);
    expect(replay.json.error).toEqual({ code: 'not_found', message: expect.stringMatching(/no request "99999" in the inspector.*nothing was sent/) });
    expect((await call(port, 'POST', '/api/requests/abc/replay', { headers: json })).status).toBe(404);
    expect((await call(port, 'GET', '/api/requests/99999')).status).toBe(404);
    expect(seen.length).toBe(before);
  });

  test('edits that would smuggle a header or a second request are refused, nothing sent', async () => {
    const before = seen.length;
    for (const edits of [{ headers: { 'X-A': 'b\r\nX-Injected: 1' } }, { path: '/a HTTP/1.1\r\nHost: x\r\n\r\nGET /b' }, { method: 'GET /' }, { surprise: 1 }]) {
      const replay = await call(port, 'POST', `/api/requests/${capturedId}/replay`, { headers: json, body: JSON.stringify(edits) });
      expect(replay.status).toBe(400);
      expect(replay.json.error.code).toBe('bad_request');
    }
    expect((await call(port, 'POST', `/api/requests/${capturedId}/replay`, { headers: json, body: 'not json' })).status).toBe(400);
    expect(seen.length).toBe(before);
  });

  test('the Host check refuses evil.com (DNS rebinding) and every other name, for reads and replays', async () => {
    const before = seen.length;
    for (const host of ['evil.com', `evil.com:${port}`, '127.0.0.1', `127.0.0.1:${port + 1}`, `localhost.evil.com:${port}`]) {
      const read = await call(port, 'GET', '/api/requests', { host });
      expect(read.status).toBe(403);
      expect(read.json.error.message).toContain(`http://127.0.0.1:${port}`);
      expect((await call(port, 'POST', `/api/requests/${capturedId}/replay`, { host, headers: json, body: '{}' })).status).toBe(403);
      expect((await call(port, 'GET', '/', { host })).status).toBe(403);
    }
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) expect((await call(port, 'GET', '/api/requests', { host })).status).toBe(200);
    expect(seen.length).toBe(before);
  });

  test('a replay another page could send (a form post, or from another origin or site) is refused, nothing sent', async () => {
    const before = seen.length;
    const refusals: Array<Record<string, string>> = [
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/x-www-form-urlencoded' },
      { ...json, origin: 'http://evil.com' },
      { ...json, 'sec-fetch-site': 'cross-site' },
      { 'x-udns-inspector': '1', 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of refusals) {
      const replay = await call(port, 'POST', `/api/requests/${capturedId}/replay`, { headers, body: '{}' });
      expect(replay.status).toBe(403);
      expect(replay.json.error.code).toBe('forbidden');
    }
    expect((await call(port, 'DELETE', '/api/requests', { headers: { 'content-type': 'text/plain' } })).status).toBe(403);
    expect((await call(port, 'OPTIONS', '/api/requests', { headers: { origin: 'http://evil.com' } })).status).toBe(403);
    expect(seen.length).toBe(before);
    expect((await call(port, 'GET', '/api/requests')).json.requests.length).toBeGreaterThan(0);
  });

  test('the page comes with a CSP allowing only its own script, and no framing', async () => {
    const page = await new Promise<http.IncomingMessage>((resolve) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, resolve));
    page.resume();
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
  });
});
