import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { makeShareFixture, type ShareFixture } from '../helpers/share-fixtures.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange } from '../helpers/visitor.js';

/** A visitor that sends a request and hangs up at once, before the answer. */
function abandon(edge: TestEdge, name: string, path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(edge.edge.httpPort, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostFor(edge, name)}\r\n\r\n`, () => setImmediate(() => socket.destroy()));
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}

/*
 * nghttp2 ends an HTTP/2 server's session once it has received about 1000 RST_STREAMs faster
 * than 33/s, and the agent is the tunnel's HTTP/2 server. Each visitor connection is a stream,
 * so thousands of short or abandoned visits must not each cost a reset from the edge.
 */
describe('many short and abandoned visits keep the tunnel up', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  let fixture: ShareFixture;
  const offline: string[] = [];

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    fixture = makeShareFixture();
    agent = await startTestAgent(edge, [
      { kind: 'http', localPort: origin.port, name: 'busy' },
      { kind: 'share', dir: fixture.root, name: 'files' },
    ]);
    agent.on('offline', (reason: string) => offline.push(reason));
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
    fixture?.cleanup();
  });

  test('1500 one-request connections to a share, 16 at a time, all answered', async () => {
    let answered = 0;
    for (let i = 0; i < 1500; i += 16) {
      const replies = await Promise.all(Array.from({ length: 16 }, () => rawExchange(edge, `GET /hello.txt HTTP/1.1\r\nHost: ${hostFor(edge, 'files')}\r\nConnection: close\r\n\r\n`)));
      answered += replies.filter((reply) => reply.startsWith('HTTP/1.1 200')).length;
    }
    expect(answered).toBe(1504);
    expect(offline).toEqual([]);
  });

  test('1500 visitors hanging up mid-request, then the tunnel still serves', async () => {
    for (let i = 0; i < 1500; i += 16) {
      await Promise.all(Array.from({ length: 16 }, (_, k) => abandon(edge, k % 2 ? 'busy' : 'files', k % 2 ? '/echo' : '/data.bin')));
    }
    const reply = await rawExchange(edge, `GET /echo HTTP/1.1\r\nHost: ${hostFor(edge, 'busy')}\r\nConnection: close\r\n\r\n`);
    expect(reply.startsWith('HTTP/1.1 200')).toBe(true);
    expect(offline).toEqual([]);
  });
});
