import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange } from '../helpers/visitor.js';

/* Finding 8 of the reliability review: answers that named the wrong problem. */
describe('the front door answers what is wrong, not something else', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'online' }]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('regression: a malformed request line for an online name is 400, not "502 this PC is offline"', async () => {
    for (const line of ['GET  / HTTP/1.1', 'GET / HTTP/1.1 ', 'GET /\tx HTTP/1.1', 'GET / HTTP/3']) {
      const reply = await rawExchange(edge, `${line}\r\nHost: ${hostFor(edge, 'online')}\r\n\r\n`);
      expect(reply, line).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(reply, line).not.toContain('offline');
    }
  });

  test('regression: an absolute-form target for the apex is the apex, whatever the Host header says', async () => {
    const reply = await rawExchange(edge, `GET http://localhost:${edge.edge.httpPort}/healthz HTTP/1.1\r\nHost: ${hostFor(edge, 'online')}\r\nConnection: close\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toMatch(/\r\n\r\nok\n$/);
  });

  test('regression: a request head over 32 KiB is 431, for a name and for the apex', async () => {
    const big = `X-Big: ${'a'.repeat(40_000)}\r\n`;
    for (const host of [hostFor(edge, 'online'), `localhost:${edge.edge.httpPort}`]) {
      const reply = await rawExchange(edge, `GET / HTTP/1.1\r\nHost: ${host}\r\n${big}\r\n`);
      expect(reply, host).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    }
  });

  test('regression: a head over the apex server\'s own 16 KiB limit is 431 too, not 400', async () => {
    const reply = await rawExchange(edge, `GET / HTTP/1.1\r\nHost: localhost:${edge.edge.httpPort}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
  });

  test('regression: a kept-alive connection that was told "offline" is closed, so the next request finds the PC once it is back', async () => {
    const claim = await rawExchange(edge, `POST /api/v1/names HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${edge.adminToken}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"name":"napper"}');
    expect(claim).toMatch(/^HTTP\/1\.1 201/);
    // Two requests on one connection: the first gets 502 and the connection ends there.
    const reply = await rawExchange(edge, `GET / HTTP/1.1\r\nHost: ${hostFor(edge, 'napper')}\r\n\r\nGET / HTTP/1.1\r\nHost: ${hostFor(edge, 'napper')}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 502 /);
    expect(reply).toMatch(/\r\nConnection: close\r\n/i);
    expect(reply.match(/HTTP\/1\.1 502/g)).toHaveLength(1);
  });

  test('regression: a WebSocket to an offline name gets 502 "offline" (not the tunnel endpoint\'s 404), an unknown name 404', async () => {
    const upgrade = (name: string) => rawExchange(edge, `GET /ws HTTP/1.1\r\nHost: ${hostFor(edge, name)}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    const offline = await upgrade('napper');
    expect(offline).toMatch(/^HTTP\/1\.1 502 /);
    expect(offline).toContain('offline');
    expect(await upgrade('nobody-here')).toMatch(/^HTTP\/1\.1 404 [\s\S]*not a name/);
  });
});
