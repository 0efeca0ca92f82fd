import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor } from '../helpers/visitor.js';

/*
 * The small-request path after its optimisations (issue 12): the edge forwards a visitor's bytes
 * with one listener per direction that also counts them, and the agent's rewriter sends a head it
 * keeps whole as the visitor's bytes plus cached forwarding lines. What must not change: every
 * request of a kept-alive connection gets its own forwarding headers, however its head is split,
 * and the relay counter counts exactly the bytes that crossed the edge.
 */

/** An origin answering each request with the forwarding headers it saw, as JSON. */
async function startEchoHeadersOrigin(): Promise<Origin> {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({
      url: req.url,
      forwardedFor: req.headers['x-forwarded-for'],
      forwardedHost: req.headers['x-forwarded-host'],
      forwardedProto: req.headers['x-forwarded-proto'],
      realIp: req.headers['x-real-ip'],
    })));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads whole HTTP/1.1 responses (Content-Length framed) off a socket, one per call. */
function responseReader(socket: net.Socket): () => Promise<{ raw: string; body: Record<string, unknown> }> {
  let buffered = '';
  const waiting: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    waiting.splice(0).forEach((wake) => wake());
  });
  return async () => {
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      const length = end === -1 ? null : /\r\ncontent-length: (\d+)/i.exec(buffered.slice(0, end));
      if (end !== -1 && length && buffered.length >= end + 4 + Number(length[1])) {
        const size = end + 4 + Number(length[1]);
        const raw = buffered.slice(0, size);
        buffered = buffered.slice(size);
        return { raw, body: JSON.parse(raw.slice(end + 4)) as Record<string, unknown> };
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
}

/** Writes `pieces` one by one, each once the socket took the one before (separate segments, mostly). */
async function writePieces(socket: net.Socket, pieces: string[]): Promise<void> {
  for (const piece of pieces) {
    await new Promise<void>((resolve, reject) => socket.write(piece, 'latin1', (error) => (error ? reject(error) : resolve())));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('the small-request path', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startEchoHeadersOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'small' }]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('100 requests on one kept-alive connection, heads split at a different byte each: every one gets its own forwarding headers, and the relay counter grows by exactly the bytes both ways', async () => {
    const host = hostFor(edge, 'small');
    const before = edge.edge.relayedBytes();
    const socket = net.connect(edge.edge.httpPort, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const next = responseReader(socket);
    let sent = 0;
    let received = 0;
    socket.on('data', (chunk: Buffer) => { received += chunk.length; });
    for (let i = 0; i < 100; i++) {
      // Spoofs on every request; every fourth one spells the Host differently.
      const hostLine = i % 4 === 3 ? `HOST:  ${host.toUpperCase()} ` : `Host: ${host}`;
      const head = `GET /r/${i} HTTP/1.1\r\n${hostLine}\r\nX-Forwarded-For: 10.6.6.${i}\r\nX-Real-IP: 10.6.6.6\r\nUser-Agent: split-test\r\n\r\n`;
      const at = 1 + (i * 7) % (head.length - 1);
      await writePieces(socket, [head.slice(0, at), head.slice(at)]);
      sent += head.length;
      const { raw, body } = await next();
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(body).toEqual({
        url: `/r/${i}`,
        forwardedFor: '127.0.0.1',
        forwardedHost: i % 4 === 3 ? host.toUpperCase() : host,
        forwardedProto: 'http',
        realIp: '127.0.0.1',
      });
    }
    // Every byte the visitor sent was read by the edge (each was answered) and every byte it got
    // was counted before it was written: the counter is exact now, not eventually.
    expect(edge.edge.relayedBytes() - before).toBe(sent + received);
    socket.destroy();
  });

  test('a request body larger than a chunk and a pipelined burst keep the counter exact', async () => {
    const host = hostFor(edge, 'small');
    const before = edge.edge.relayedBytes();
    const socket = net.connect(edge.edge.httpPort, '127.0.0.1');
    await once(socket, 'connect');
    const next = responseReader(socket);
    let received = 0;
    socket.on('data', (chunk: Buffer) => { received += chunk.length; });
    const body = 'b'.repeat(256 * 1024);
    const upload = `POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const burst = Array.from({ length: 20 }, (_, i) => `GET /burst/${i} HTTP/1.1\r\nHost: ${host}\r\n\r\n`).join('');
    socket.write(upload + burst, 'latin1');
    expect((await next()).body.url).toBe('/upload');
    for (let i = 0; i < 20; i++) expect((await next()).body.url).toBe(`/burst/${i}`);
    expect(edge.edge.relayedBytes() - before).toBe(upload.length + burst.length + received);
    socket.destroy();
  });
});
