import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, startTcpEcho, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { makeTestCertificates } from '../helpers/test-certificates.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor } from '../helpers/visitor.js';

interface Line {
  time: string; kind: string; name: string | null; host?: string; client: string; method: string | null; path: string | null;
  status: number | null; bytesIn: number; bytesOut: number; durationMs: number; refused?: string; port?: number;
}

/** Connects to a tcp route; resolves once the edge closed (or reset) the connection, with what came back. */
function tcpVisit(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    socket.on('close', () => resolve(out));
    socket.on('error', () => {});
    socket.write(text);
  });
}

/** A connection to `port` that stays open (its first bytes written) until destroyed. */
async function held(port: number, text: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(text);
  return socket;
}

/** Writes `bytes` on a new connection and reads until the edge closes it. */
function exchange(edge: TestEdge, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(edge.edge.httpPort, '127.0.0.1');
    let out = '';
    socket.on('data', (chunk: Buffer) => { out += chunk.toString('latin1'); });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

/*
 * Issue 13 follow-up: a request the edge answers itself (front door refusals, access rules,
 * limits, a name with no live agent) gets an access-log line with `refused`, like the requests
 * that reach a tunnel; none did before.
 */
describe('access log lines for requests the edge refuses itself', () => {
  let edge: TestEdge;
  let origin: Origin;
  let echo: Origin;
  let agent: Agent;
  let work: string;
  let file: string;
  /** Lines seen so far; `next` returns those written since the last call. */
  let seen = 0;
  const all = (): Line[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line);
  const next = (count: number): Promise<Line[]> => eventually(`${count} new access log line(s)`, () => {
    const lines = all();
    if (lines.length < seen + count) return undefined;
    expect(lines).toHaveLength(seen + count);
    seen = lines.length;
    return lines.slice(-count);
  });

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-access-refusals-'));
    file = path.join(work, 'access.log');
    edge = await startTestEdge({ accessLog: file, maxVisitorsPerRoute: 1 });
    origin = await startHttpOrigin();
    echo = await startTcpEcho();
    agent = await startTestAgent(edge, [
      { kind: 'tcp', localPort: echo.port },
      { kind: 'tcp', localPort: echo.port, access: { allowIp: ['10.0.0.0/8'] } },
      { kind: 'http', localPort: origin.port, name: 'open' },
      { kind: 'http', localPort: origin.port, name: 'locked', access: { basicAuth: [{ user: 'alice', password: 'correct horse' }] } },
      { kind: 'http', localPort: origin.port, name: 'walled', access: { allowIp: ['10.0.0.0/8'] } },
    ]);
    const claimed = await fetch(`${edge.serverUrl}/api/v1/names`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'sleepy' }),
    });
    expect(claimed.status).toBe(201);
  }, 30_000);
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await echo?.close();
    await edge?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('tcp: a connection refused by --allow-ip, and one over the visitor limit, each get a line', async () => {
    const [open, walled] = agent.routes.filter((route) => route.kind === 'tcp').map((route) => route.port!);
    expect(await tcpVisit(walled!, 'knock')).toBe('');
    expect((await next(1))[0]).toMatchObject({ kind: 'tcp', port: walled, client: '127.0.0.0/24', bytesIn: 0, bytesOut: 0, refused: 'ip_rules' });
    const first = await held(open!, 'first');
    try {
      // Lines reach the file up to 10 ms after their request (ACCESS_LOG_BATCH_MS): look at every
      // line since the wait began, not only at those that came before the visit returned.
      const refused = await eventually('a second tcp visitor refused', async () => {
        if (all().slice(seen).some((line) => line.refused === 'visitor_quota')) return true;
        expect(await tcpVisit(open!, 'second')).toBe('');
        return undefined;
      });
      expect(refused).toBe(true);
      const line = all().slice(seen).find((entry) => entry.refused === 'visitor_quota');
      expect(line).toMatchObject({ kind: 'tcp', port: open, bytesIn: 0, bytesOut: 0 });
    } finally {
      first.destroy();
    }
    await eventually('the held connection\'s line', () => all().slice(seen).find((line) => line.kind === 'tcp' && line.refused === undefined && line.bytesIn === 5));
    seen = all().length;
  });

  test('400 and 431 from the front door: status, reason, what could be read of the request, bytes both ways', async () => {
    const host = hostFor(edge, 'open');
    const twoHosts = `GET /page?token=secret HTTP/1.1\r\nHost: ${host}\r\nHost: other.localhost\r\n\r\n`;
    const answer = await exchange(edge, twoHosts);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const [line] = await next(1);
    expect(line).toMatchObject({ kind: 'http', name: null, client: '127.0.0.0/24', method: 'GET', path: '/page', status: 400, refused: 'bad_request_head', bytesIn: twoHosts.length, bytesOut: answer.length });
    expect(Number.isNaN(Date.parse(line!.time))).toBe(false);
    expect(line!.durationMs).toBeGreaterThanOrEqual(0);

    const big = `GET /big HTTP/1.1\r\nHost: ${host}\r\nX-Pad: ${'p'.repeat(33_000)}\r\n\r\n`;
    expect(await exchange(edge, big)).toMatch(/^HTTP\/1\.1 431 /);
    expect((await next(1))[0]).toMatchObject({ name: 'open', method: 'GET', path: '/big', status: 431, refused: 'head_too_large' });
    expect(fs.readFileSync(file, 'utf8')).not.toContain('secret');
  });

  test('garbage in the request line is logged escaped and cut, never as raw bytes', async () => {
    const garbage = Buffer.concat([
      Buffer.from('\x1b[2J\x1b]0;pwned\x07GET\x00\x85 /a\x85\x9bb\x7f', 'latin1'),
      Buffer.from(`/${'z'.repeat(5000)}?q=1 HTTP/1.1\r\nHost: ${hostFor(edge, 'open')}\r\n\r\n`),
    ]);
    expect(await exchange(edge, garbage)).toMatch(/^HTTP\/1\.1 400 /);
    const [line] = await next(1);
    expect(line).toMatchObject({ name: 'open', status: 400, refused: 'bad_request_head' });
    expect(line!.method).toBe('%1B[2J%1B]0;pwned%07GET%00%85'.slice(0, 32));
    expect(line!.path!.startsWith('/a%85%9Bb%7F/zzz')).toBe(true);
    expect(line!.path!.length).toBeLessThanOrEqual(2048);
    // Printable ASCII only on disk: no control byte, no byte over 0x7e.
    expect(fs.readFileSync(file).every((byte) => byte === 0x0a || (byte >= 0x20 && byte < 0x7f))).toBe(true);
  });

  test('access rules at the edge: 401 without or with wrong credentials, 403 for a network not allowed', async () => {
    const locked = hostFor(edge, 'locked');
    const noCredentials = await exchange(edge, `GET /private?k=v HTTP/1.1\r\nHost: ${locked}\r\n\r\n`);
    expect(noCredentials).toMatch(/^HTTP\/1\.1 401 /);
    const wrong = await exchange(edge, `GET /private HTTP/1.1\r\nHost: ${locked}\r\nAuthorization: Basic ${Buffer.from('alice:nope').toString('base64')}\r\n\r\n`);
    expect(wrong).toMatch(/^HTTP\/1\.1 401 /);
    const walled = await exchange(edge, `POST /form HTTP/1.1\r\nHost: ${hostFor(edge, 'walled')}\r\nContent-Length: 0\r\n\r\n`);
    expect(walled).toMatch(/^HTTP\/1\.1 403 /);
    const lines = await next(3);
    expect(lines.map((line) => [line.name, line.method, line.path, line.status, line.refused])).toEqual([
      ['locked', 'GET', '/private', 401, 'basic_auth'],
      ['locked', 'GET', '/private', 401, 'basic_auth'],
      ['walled', 'POST', '/form', 403, 'ip_rules'],
    ]);
    expect(lines[0]!.bytesOut).toBe(noCredentials.length);
    expect(lines[2]!.bytesOut).toBe(walled.length);
  });

  test('the operator\'s visitor limit (429), then the request that gets in is logged as usual', async () => {
    const host = hostFor(edge, 'open');
    const holder = net.connect(edge.edge.httpPort, '127.0.0.1');
    await once(holder, 'connect');
    holder.on('error', () => {});
    const newLines = (): Line[] => all().slice(seen);
    try {
      holder.write(`GET /hang HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const refused = await eventually('the second visitor refused', async () => {
        const answer = await exchange(edge, `GET /second HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        return /^HTTP\/1\.1 429 /.test(answer) ? answer : undefined;
      });
      const line = await eventually('the 429 line', () => newLines().find((entry) => entry.status === 429));
      expect(line).toMatchObject({ name: 'open', path: '/second', refused: 'visitor_quota', bytesOut: refused.length });
    } finally {
      holder.destroy();
    }
    // The held request never got an answer: its line says so (status null) once it closes.
    expect(await eventually('the held request\'s line', () => newLines().find((entry) => entry.path === '/hang'))).toMatchObject({ name: 'open', status: null });
    const served = await eventually('a visitor served again', async () => {
      const answer = await exchange(edge, `GET /served HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      return /^HTTP\/1\.1 404 /.test(answer) ? answer : undefined;
    });
    expect(served).toContain('origin: not found');
    const line = await eventually('the served line', () => newLines().find((entry) => entry.path === '/served' && entry.status === 404));
    expect(line.refused).toBeUndefined();
    // Every line of this test is one of these.
    for (const entry of newLines()) expect(['/hang', '/second', '/served']).toContain(entry.path);
    seen = all().length;
  });

  test('no live agent: 502 for a claimed name (also a WebSocket), 404 for a name nobody has', async () => {
    const offline = await exchange(edge, `GET /x?y=z HTTP/1.1\r\nHost: ${hostFor(edge, 'sleepy')}\r\nConnection: close\r\n\r\n`);
    expect(offline).toMatch(/^HTTP\/1\.1 502 /);
    const socket = await exchange(edge, `GET /ws HTTP/1.1\r\nHost: ${hostFor(edge, 'sleepy')}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    expect(socket).toMatch(/^HTTP\/1\.1 502 /);
    const unknown = await exchange(edge, `HEAD /nothing HTTP/1.1\r\nHost: ${hostFor(edge, 'nobody')}\r\nConnection: close\r\n\r\n`);
    expect(unknown).toMatch(/^HTTP\/1\.1 404 /);
    const lines = (await next(3)).sort((a, b) => a.path!.localeCompare(b.path!));
    expect(lines.map((line) => [line.name, line.method, line.path, line.status, line.refused])).toEqual([
      ['nobody', 'HEAD', '/nothing', 404, 'unknown_name'],
      ['sleepy', 'GET', '/ws', 502, 'offline'],
      ['sleepy', 'GET', '/x', 502, 'offline'],
    ]);
    expect(lines[2]!.bytesOut).toBe(offline.length);
    expect(lines[1]!.bytesOut).toBe(socket.length);
    expect(lines[2]!.bytesIn).toBeGreaterThan(0);
    // The apex itself (the edge's own pages and API) is not visitor traffic: no line.
    expect((await fetch(`${edge.serverUrl}/healthz`)).status).toBe(200);
    expect(await exchange(edge, `GET / HTTP/1.1\r\nHost: ${hostFor(edge, 'open')}\r\nHost: x\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect((await next(1))[0]!.refused).toBe('bad_request_head');
  });
});

describe('access log lines when the agent\'s tunnel is full (503 for http, a close for tcp)', () => {
  test('visitor_limit', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-access-busy-'));
    const file = path.join(work, 'access.log');
    const edge = await startTestEdge({ accessLog: file, maxVisitorsPerTunnel: 1, maxVisitorsPerNetwork: 1 });
    const origin = await startHttpOrigin();
    const echo = await startTcpEcho();
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'popular' }, { kind: 'tcp', localPort: echo.port }]);
    const lines = (): Line[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line);
    const holder = await held(edge.edge.httpPort, `GET /hang HTTP/1.1\r\nHost: ${hostFor(edge, 'popular')}\r\n\r\n`);
    try {
      const answer = await eventually('a 503 for the second visitor', async () => {
        const reply = await exchange(edge, `GET /more?x=1 HTTP/1.1\r\nHost: ${hostFor(edge, 'popular')}\r\n\r\n`);
        return /^HTTP\/1\.1 503 /.test(reply) ? reply : undefined;
      });
      expect(await eventually('the 503 line', () => lines().find((line) => line.status === 503))).toMatchObject({
        kind: 'http', name: 'popular', method: 'GET', path: '/more', refused: 'visitor_limit', bytesOut: answer.length,
      });
      const port = agent.routes.find((route) => route.kind === 'tcp')!.port!;
      await eventually('a tcp visitor closed for want of room', async () => {
        await tcpVisit(port, 'hi');
        return lines().some((line) => line.kind === 'tcp' && line.refused === 'visitor_limit') ? true : undefined;
      });
      expect(lines().find((line) => line.kind === 'tcp' && line.refused !== undefined)).toMatchObject({ port, refused: 'visitor_limit', bytesIn: 0 });
    } finally {
      holder.destroy();
      agent.stop();
      await origin.close();
      await echo.close();
      await edge.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('access log lines for visitors sent on to HTTPS (--https-redirect)', () => {
  test('https_redirect for a name; the apex\'s own redirect gets no line', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-access-redirect-'));
    const file = path.join(work, 'access.log');
    const certs = makeTestCertificates('edge.test');
    const edge = await startTestEdge({ domain: 'edge.test', httpsPort: 0, tlsCert: certs.certFile, tlsKey: certs.keyFile, httpsRedirect: true, accessLog: file });
    try {
      const lines = (): Line[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line);
      expect(await exchange(edge, `GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n`)).toMatch(/^HTTP\/1\.1 308 /);
      const answer = await exchange(edge, `GET /shop?item=1 HTTP/1.1\r\nHost: alice.edge.test\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 308 /);
      const line = await eventually('the redirect line', () => lines()[0]);
      expect(line).toMatchObject({ kind: 'http', name: 'alice', method: 'GET', path: '/shop', status: 308, refused: 'https_redirect', bytesOut: answer.length });
      expect(lines()).toHaveLength(1);
    } finally {
      await edge.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
