import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { closedPort, startTcpEcho, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

function exchange(port: number, payload: Buffer): Promise<{ echoed: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => { socket.end(); resolve({ echoed: Buffer.concat(chunks), ended: true }); });
    socket.on('error', reject);
    // Half-close after writing: the echo server answers everything, then ends its side.
    socket.end(payload);
  });
}

describe('TCP forwards', () => {
  let edge: TestEdge;
  let echo: Origin;
  let agent: Agent;

  beforeAll(async () => {
    edge = await startTestEdge();
    echo = await startTcpEcho();
    agent = await startTestAgent(edge, [{ kind: 'tcp', localPort: echo.port }]);
  });
  afterAll(async () => {
    agent?.stop();
    await echo?.close();
    await edge?.close();
  });

  test('a tcp route gets a port from the range and a tcp:// URL', () => {
    const [route] = agent.routes;
    expect(route!.port).toBeGreaterThanOrEqual(30000);
    expect(route!.port).toBeLessThanOrEqual(30999);
    expect(route!.url).toBe(`tcp://localhost:${route!.port}`);
    expect(route!.target).toBe(`127.0.0.1:${echo.port}`);
  });

  test('bytes echo through the forward, and half-close passes both ways', async () => {
    const payload = Buffer.from('hello over tcp\n'.repeat(1000));
    const { echoed, ended } = await exchange(agent.routes[0]!.port!, payload);
    expect(ended).toBe(true);
    expect(echoed.equals(payload)).toBe(true);
  });

  test('20 connections at once each get their own bytes back', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(agent.routes[0]!.port!, Buffer.from(`connection ${i} `.repeat(5000)))));
    results.forEach(({ echoed }, i) => expect(echoed.toString()).toBe(`connection ${i} `.repeat(5000)));
  });

  test('a refused local port closes the visitor connection instead of hanging', async () => {
    const port = await closedPort();
    const lonely = await startTestAgent(edge, [{ kind: 'tcp', localPort: port }]);
    try {
      const closed = await new Promise<string>((resolve) => {
        const socket = net.connect(lonely.routes[0]!.port!, '127.0.0.1');
        socket.on('error', () => resolve('error'));
        socket.on('close', () => resolve('closed'));
        socket.write('anyone there?');
      });
      expect(['closed', 'error']).toContain(closed);
    } finally {
      lonely.stop();
    }
  });
});
