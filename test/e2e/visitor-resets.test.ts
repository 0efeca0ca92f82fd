import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, startTcpEcho, type Origin } from '../helpers/origins.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';

/*
 * Finding 1 of the reliability review: a visitor resetting the connection while an answer of
 * the edge was in flight killed the edge (an 'error' with no listener). Here every answer the
 * edge can give is requested and the connection reset at several moments, against the edge as a
 * real process; it must live on and keep serving.
 */

type Moment = 'before-answer' | 'mid-answer' | 'after-answer';
const MOMENTS: Moment[] = ['before-answer', 'mid-answer', 'after-answer'];
const DOMAIN = 'edge.test';

/**
 * Opens a connection (plain, or TLS over a plain socket we can reset), writes `request`, and
 * resets it at `moment`: right away, at the first bytes of the answer, or once what was read
 * matches `answered` (or the edge closed).
 */
async function resetDuring(port: number, secure: boolean, request: string | Buffer, moment: Moment, answered = /\r\n\r\n/): Promise<string> {
  const raw = net.connect({ port, host: '127.0.0.1' });
  raw.on('error', () => {});
  await once(raw, 'connect');
  let socket: net.Socket = raw;
  if (secure) {
    const secured = tls.connect({ socket: raw, servername: DOMAIN, rejectUnauthorized: false });
    secured.on('error', () => {});
    await once(secured, 'secureConnect');
    socket = secured;
  }
  let received = '';
  const firstData = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  let markAnswered: () => void = () => {};
  const complete = new Promise<void>((resolve) => {
    markAnswered = resolve;
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    if (answered.test(received)) markAnswered();
  });
  socket.write(request);
  if (moment === 'mid-answer') await Promise.race([firstData, complete]);
  if (moment === 'after-answer') await complete;
  // SO_LINGER 0: the edge gets a TCP RST, as from a visitor whose machine dropped the connection.
  if (!raw.destroyed) raw.resetAndDestroy();
  return received;
}

describe('a visitor resetting the connection at any answer leaves the edge running', () => {
  let certificates: TestCertificates;
  let edge: EdgeProcess;
  let origin: Origin;
  let echo: Origin;
  let agent: Agent;
  let tcpPort: number;

  beforeAll(async () => {
    certificates = makeTestCertificates(DOMAIN);
    edge = await startEdgeProcess(['--domain', DOMAIN, '--https-port', '0', '--tls-cert', certificates.certFile,
      '--tls-key', certificates.keyFile, '--https-redirect', '--max-visitors-per-network', '16']);
    origin = await startHttpOrigin();
    echo = await startTcpEcho();
    const serverUrl = `https://127.0.0.1:${edge.httpsPort}`;
    agent = await startAgent({
      serverUrl, token: edge.adminToken, ca: certificates.ca,
      routes: [{ kind: 'http', localPort: origin.port, name: 'alive' }, { kind: 'tcp', localPort: echo.port }],
    });
    tcpPort = agent.routes.find((route) => route.kind === 'tcp')!.port!;
    // A claimed name with no agent: the edge's 502 "offline".
    const body = JSON.stringify({ name: 'sleepy' });
    const claim = await resetDuring(edge.httpsPort!, true, `POST /api/v1/names HTTP/1.1\r\nHost: ${DOMAIN}\r\n` +
      `Authorization: Bearer ${edge.adminToken}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      'after-answer', /\r\n\r\n[\s\S]*\}/);
    expect(claim).toMatch(/^HTTP\/1\.1 201/);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await echo?.close();
    await edge?.stop();
  });

  const get = (host: string, target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\r\n${extra}\r\n`;
  const answers: Array<{ what: string; secure: boolean; request: () => string | Buffer; expect: RegExp }> = [
    { what: '308 redirect to https', secure: false, request: () => get(DOMAIN, '/'), expect: /^HTTP\/1\.1 308/ },
    { what: '308 for a name', secure: false, request: () => get(`alive.${DOMAIN}`, '/echo'), expect: /^HTTP\/1\.1 308/ },
    { what: 'ACME challenge path over plain http (404)', secure: false, request: () => get(DOMAIN, '/.well-known/acme-challenge/abc'), expect: /^HTTP\/1\.1 404/ },
    { what: 'dyndns badauth over plain http', secure: false, request: () => get(DOMAIN, '/nic/update?hostname=sleepy.edge.test'), expect: /^HTTP\/1\.1 401/ },
    { what: 'apex landing page', secure: true, request: () => get(DOMAIN, '/'), expect: /^HTTP\/1\.1 200/ },
    { what: 'apex 404', secure: true, request: () => get(DOMAIN, '/nothing-here'), expect: /^HTTP\/1\.1 404/ },
    { what: 'API 401', secure: true, request: () => get(DOMAIN, '/api/v1/me'), expect: /^HTTP\/1\.1 401/ },
    { what: 'API 200', secure: true, request: () => get(DOMAIN, '/api/v1/me', `Authorization: Bearer ${edge.adminToken}\r\n`), expect: /^HTTP\/1\.1 200/ },
    { what: '400 malformed header', secure: true, request: () => `GET / HTTP/1.1\r\nHost: ${DOMAIN}\r\nno colon here\r\n\r\n`, expect: /^HTTP\/1\.1 400/ },
    { what: '404 unknown name', secure: true, request: () => get(`nobody.${DOMAIN}`, '/'), expect: /^HTTP\/1\.1 404/ },
    { what: '421 from the agent', secure: true, request: () => get(`alive.${DOMAIN}`, '/echo') + get(`other.${DOMAIN}`, '/echo'), expect: /^HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 421/ },
    { what: '431 oversized head', secure: true, request: () => get(DOMAIN, '/', `X-Big: ${'a'.repeat(40_000)}\r\n`), expect: /^HTTP\/1\.1 431/ },
    { what: '502 offline name', secure: true, request: () => get(`sleepy.${DOMAIN}`, '/'), expect: /^HTTP\/1\.1 502/ },
    { what: '200 through the tunnel, 2 MiB body', secure: true, request: () => get(`alive.${DOMAIN}`, `/bytes/${2 * 1024 * 1024}`), expect: /^HTTP\/1\.1 200/ },
    { what: 'dyndns badauth', secure: true, request: () => get(DOMAIN, '/nic/update?hostname=sleepy.edge.test'), expect: /^HTTP\/1\.1 401/ },
    { what: 'tunnel refusal (401)', secure: true, request: () => `GET /_udns/tunnel HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: udns-tunnel\r\n\r\n`, expect: /^HTTP\/1\.1 401/ },
  ];

  for (const answer of answers) {
    test(`${answer.what}: the answer is right, and resets at every moment leave the edge up`, async () => {
      const port = answer.secure ? edge.httpsPort! : edge.httpPort;
      // The answer itself, read whole (proves the case reaches the code it names).
      expect(await resetDuring(port, answer.secure, answer.request(), 'after-answer', answer.expect)).toMatch(answer.expect);
      try {
        for (let round = 0; round < 4; round++) {
          for (const moment of MOMENTS) await resetDuring(port, answer.secure, answer.request(), moment, answer.expect);
        }
      } finally {
        expect(edge.alive(), `the edge died: ${edge.cli.stderr()}`).toBe(true);
      }
    });
  }

  test('TCP forward: resets before and after the echo leave the edge up', async () => {
    for (let round = 0; round < 4; round++) {
      for (const moment of MOMENTS) await resetDuring(tcpPort, false, 'ping\n', moment, /ping\n/);
    }
    expect(edge.alive()).toBe(true);
  });

  test('503: a busy name answers, and resets during that answer leave the edge up', async () => {
    // One address filling its share of the tunnel with requests awaiting their answers (visitor-limits.test.ts).
    const held: net.Socket[] = [];
    try {
      let refused = '';
      for (let i = 0; i < 100 && !/^HTTP\/1\.1 503/.test(refused); i++) {
        const socket = net.connect({ port: edge.httpsPort!, host: '127.0.0.1', localAddress: '127.0.0.3' });
        socket.on('error', () => {});
        await once(socket, 'connect');
        const secured = tls.connect({ socket, servername: DOMAIN, rejectUnauthorized: false });
        secured.on('error', () => {});
        held.push(socket);
        const reply = new Promise<string>((resolve) => {
          let out = '';
          secured.on('data', (chunk: Buffer) => { out += chunk.toString('latin1'); if (out.includes('\r\n\r\n')) resolve(out); });
          secured.on('close', () => resolve(out));
        });
        secured.write(get(`alive.${DOMAIN}`, '/hang'));
        refused = await Promise.race([reply, new Promise<string>((resolve) => setTimeout(() => resolve(''), 200))]);
      }
      expect(refused).toMatch(/^HTTP\/1\.1 503/);
      for (let round = 0; round < 4; round++) {
        for (const moment of MOMENTS) {
          const raw = net.connect({ port: edge.httpsPort!, host: '127.0.0.1', localAddress: '127.0.0.3' });
          raw.on('error', () => {});
          await once(raw, 'connect');
          const secured = tls.connect({ socket: raw, servername: DOMAIN, rejectUnauthorized: false });
          secured.on('error', () => {});
          await once(secured, 'secureConnect');
          const data = once(secured, 'data');
          secured.write(get(`alive.${DOMAIN}`, '/echo'));
          if (moment !== 'before-answer') await data;
          raw.resetAndDestroy();
        }
      }
      expect(edge.alive()).toBe(true);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  test('after all of it, the edge still serves the apex, the name and DNS', async () => {
    expect(edge.alive()).toBe(true);
    const reply = await eventually('the name to answer 200', async () => {
      const text = await resetDuring(edge.httpsPort!, true, get(`alive.${DOMAIN}`, '/echo', 'Connection: close\r\n'), 'after-answer', /"method"/);
      return /^HTTP\/1\.1 200/.test(text) ? text : undefined;
    });
    expect(reply).toContain('"method":"GET"');
  });
});
