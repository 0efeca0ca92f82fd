import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor } from '../helpers/visitor.js';

/**
 * Writes `text` as latin1 bytes (rawExchange would send UTF-8) on a raw connection to the edge
 * and returns everything read until it closes.
 */
function exchange(edge: TestEdge, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(edge.edge.httpPort, '127.0.0.1');
    let out = '';
    socket.on('data', (chunk: Buffer) => { out += chunk.toString('latin1'); });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write(Buffer.from(text, 'latin1'));
  });
}

/*
 * Heads the front door used to route into a member's tunnel by a reading llhttp does not share
 * (found by request-head.fuzz.test.ts): through the real edge and agent, each is refused by the
 * edge itself, and nothing reaches the agent (its origin sees no connection at all).
 */
describe('the front door refuses heads llhttp would read otherwise, before any tunnel', () => {
  let edge: TestEdge;
  let agent: Agent;
  let origin: http.Server;
  let originConnections = 0;
  const originRequests: string[] = [];

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = http.createServer((req, res) => {
      originRequests.push(`${req.method} ${req.url}`);
      res.end('origin ok\n');
    });
    origin.on('connection', () => { originConnections++; });
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: (origin.address() as net.AddressInfo).port, name: 'online' }]);
  });
  afterAll(async () => {
    agent?.stop();
    origin?.closeAllConnections();
    origin?.close();
    await edge?.close();
  });

  test('a handful of refused cases get 400 (431) from the edge and never reach the agent', async () => {
    const host = hostFor(edge, 'online');
    const name = `online.${edge.edge.config.domain}`;
    const cases: Array<[string, string, number]> = [
      ['two Host headers', `GET / HTTP/1.1\r\nHost: ${host}\r\nHost: other.${edge.edge.config.domain}\r\n\r\n`, 400],
      ['a Host ending in NBSP', `GET / HTTP/1.1\r\nHost: ${name}\xa0\r\n\r\n`, 400],
      ['a Host in brackets', `GET / HTTP/1.1\r\nHost: [${name}]\r\n\r\n`, 400],
      ['a Host port that is not digits', `GET / HTTP/1.1\r\nHost: ${name}:abc\r\n\r\n`, 400],
      ['obs-fold', `GET / HTTP/1.1\r\nHost: ${host}\r\n folded\r\n\r\n`, 400],
      ['a bare LF in a header line', `GET / HTTP/1.1\r\nHost: ${host}\r\nX: a\nHost: evil\r\n\r\n`, 400],
      ['Content-Length and Transfer-Encoding', `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
      ['an ftp: target (the Host header decided)', `GET ftp://${name}/ HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 400],
      ['a lower-case CONNECT', `connect ${name}:443 HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 400],
      ['a head ending past 32 KiB, sent at once', `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Pad: ${'p'.repeat(33_000)}\r\n\r\n`, 431],
    ];
    for (const [what, text, status] of cases) {
      const reply = await exchange(edge, text);
      expect(reply, what).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      // The agent words its own refusals this way: the edge must have answered first.
      expect(reply, what).not.toContain('udns refused this request');
    }
    expect(edge.logs().match(/"msg":"request head refused"/g)).toHaveLength(cases.length);

    // The tunnel works, and the first connection its origin ever saw is this request's.
    const good = await exchange(edge, `GET /ok HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(good).toMatch(/^HTTP\/1\.1 200 /);
    expect(good).toContain('origin ok');
    expect(originRequests).toEqual(['GET /ok']);
    expect(originConnections).toBe(1);
  });
});
