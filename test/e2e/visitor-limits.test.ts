import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { isUdnsError } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

/** Opens a visitor connection from `localAddress` that sends one request and then idles. */
async function idleVisitor(edge: TestEdge, localAddress: string, name: string, path = '/echo'): Promise<{ socket: net.Socket; firstReply: Promise<string> }> {
  const socket = net.connect({ port: edge.edge.httpPort, host: '127.0.0.1', localAddress });
  await once(socket, 'connect');
  socket.on('error', () => {});
  const firstReply = new Promise<string>((resolve) => {
    let out = '';
    socket.on('data', (chunk) => { out += chunk; if (out.includes('\r\n\r\n')) resolve(out); });
    socket.on('close', () => resolve(out));
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostFor(edge, name)}\r\n\r\n`);
  return { socket, firstReply };
}

describe('visitor limits', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  const PER_TUNNEL = 12;
  const PER_NETWORK = 4;

  beforeAll(async () => {
    edge = await startTestEdge({ maxVisitorsPerTunnel: PER_TUNNEL, maxVisitorsPerNetwork: PER_NETWORK });
    origin = await startHttpOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'popular' }]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  /** Sends one request from `from`; resolves with the first answer's head. */
  const ask = async (from: string, path = '/echo') => {
    const visitor = await idleVisitor(edge, from, 'popular', path);
    return { ...visitor, reply: await visitor.firstReply };
  };

  test('regression: three addresses holding idle keep-alive connections no longer lock a name for everyone', async () => {
    const held: net.Socket[] = [];
    try {
      for (const from of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) {
        for (let i = 0; i < PER_NETWORK; i++) {
          const { socket, reply } = await ask(from);
          held.push(socket);
          expect(reply).toMatch(/^HTTP\/1\.1 200/);
        }
      }
      expect(edge.edge.tunnelCount()).toBe(1);
      // The tunnel is full of answered, idle connections: once they have been quiet a moment, a
      // newcomer takes the place of the longest idle one instead of getting 503.
      const newcomer = await eventually('a newcomer to be let in', async () => {
        const attempt = await ask('127.0.0.4');
        if (/^HTTP\/1\.1 200/.test(attempt.reply)) return attempt;
        attempt.socket.destroy();
        expect(attempt.reply).toMatch(/^HTTP\/1\.1 503/);
        return undefined;
      }, { timeoutMs: 15_000, intervalMs: 250 });
      held.push(newcomer.socket);
      await eventually('the oldest idle connection to be closed', () => (held[0]!.readableEnded || held[0]!.destroyed ? true : undefined));
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  test('one network with every connection awaiting its answer gets 503 at its limit, other networks still get in', async () => {
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < PER_NETWORK; i++) held.push((await idleVisitor(edge, '127.0.0.5', 'popular', '/hang')).socket);
      // /hang never answers: nothing here is idle between requests, so nothing is reclaimed.
      const refused = await eventually('the fifth connection of 127.0.0.5 to be refused', async () => {
        const attempt = await ask('127.0.0.5');
        held.push(attempt.socket);
        return /^HTTP\/1\.1 503/.test(attempt.reply) ? attempt.reply : undefined;
      });
      expect(refused).toContain('Retry-After: 5');
      const other = await ask('127.0.0.6');
      held.push(other.socket);
      expect(other.reply).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      for (const socket of held) socket.destroy();
    }
    // Once they are gone, the network is served again as soon as the edge has seen the closes.
    await eventually('127.0.0.5 to be served again', async () => {
      const attempt = await ask('127.0.0.5');
      attempt.socket.destroy();
      return /^HTTP\/1\.1 200/.test(attempt.reply) ? true : undefined;
    });
  });

  test('regression: a visitor that never closes its side is released after the origin closed the connection', async () => {
    const closingOrigin = http.createServer((_req, res) => res.writeHead(200, { connection: 'close' }).end('bye'));
    closingOrigin.listen(0, '127.0.0.1');
    await once(closingOrigin, 'listening');
    const closer = await startTestAgent(edge, [{ kind: 'http', localPort: (closingOrigin.address() as net.AddressInfo).port, name: 'closer' }]);
    try {
      const socket = net.connect({ port: edge.edge.httpPort, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => {});
      let body = '';
      socket.on('data', (chunk) => { body += chunk; });
      const ended = once(socket, 'end');
      const failed = once(socket, 'error');
      socket.write(`GET / HTTP/1.1\r\nHost: ${hostFor(edge, 'closer')}\r\n\r\n`);
      await ended;
      expect(body).toContain('bye');
      // We keep our side open on purpose. After its grace period the edge closes the connection
      // (a close, not a reset, so a slow reader still gets every byte the kernel holds): our
      // first write after that is answered with a reset, the next one fails.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      socket.write('still there?\r\n');
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.write('hello?\r\n');
      const [error] = await failed;
      expect((error as NodeJS.ErrnoException).code).toMatch(/ECONNRESET|EPIPE/);
    } finally {
      closer.stop();
      closingOrigin.close();
    }
  });
});

describe('idle visitors', () => {
  test('regression: a keep-alive connection idle between requests is closed after --keep-alive-timeout; one awaiting its answer is not', async () => {
    const edge = await startTestEdge({ keepAliveTimeout: 1 });
    const origin = await startHttpOrigin();
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'idler' }]);
    const held: net.Socket[] = [];
    try {
      const waiting = await idleVisitor(edge, '127.0.0.1', 'idler', '/hang');
      held.push(waiting.socket);
      const answered = await idleVisitor(edge, '127.0.0.1', 'idler', '/echo');
      held.push(answered.socket);
      expect(await answered.firstReply).toMatch(/^HTTP\/1\.1 200/);
      await eventually('the idle keep-alive connection to be closed', () => (answered.socket.readableEnded || answered.socket.destroyed ? true : undefined), { timeoutMs: 15_000 });
      // Swept at the same moment, the request still waiting for its answer was left alone.
      expect(waiting.socket.readableEnded || waiting.socket.destroyed).toBe(false);
    } finally {
      for (const socket of held) socket.destroy();
      agent.stop();
      await origin.close();
      await edge.close();
    }
  });
});

describe('registration and transport edge cases', () => {
  test('regression: a burst of route registrations cannot pass the per-tunnel limit', async () => {
    const edge = await startTestEdge();
    try {
      const routes = Array.from({ length: 40 }, () => ({ kind: 'tcp' as const, localPort: 9 }));
      const outcome = await startTestAgent(edge, routes).then((a) => { a.stop(); return 'all registered'; }, (e: unknown) => (isUdnsError(e) ? e.code : String(e)));
      expect(outcome).toBe('route_limit');
    } finally {
      await edge.close();
    }
  });

  test('regression: a rejected token over the WebSocket transport is reported as unauthorized', async () => {
    const edge = await startTestEdge();
    try {
      const outcome = await startTestAgent(edge, [{ kind: 'http', localPort: 9 }], { transport: 'ws', token: 'udns_nope' })
        .then(() => 'connected', (e: unknown) => (isUdnsError(e) ? e.code : String(e)));
      expect(outcome).toBe('unauthorized');
    } finally {
      await edge.close();
    }
  });

  test('behind a TLS proxy (--public-url https://…) the origin sees X-Forwarded-Proto: https', async () => {
    const edge = await startTestEdge({ publicUrl: 'https://localhost' });
    const origin = await startHttpOrigin();
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'secure' }]);
    try {
      expect(agent.routes[0]!.url).toBe('https://secure.localhost');
      const seen = JSON.parse((await visit(edge, 'secure', '/echo', { headers: { host: 'secure.localhost' } })).body);
      expect(seen.headers['x-forwarded-proto']).toBe('https');
    } finally {
      agent.stop();
      await origin.close();
      await edge.close();
    }
  });
});
