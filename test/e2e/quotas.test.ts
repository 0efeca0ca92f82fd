import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { isUdnsError } from '../../protocol/index.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { openAccountLimits } from '../../server/quotas/account-limits.js';
import { openTrafficMeter } from '../../server/traffic/traffic-meter.js';
import { eventually } from '../helpers/eventually.js';
import { patternSha256, startHttpOrigin, startTcpEcho, type Origin } from '../helpers/origins.js';
import { describeOnDatabases, findPostgresBinaries, requirePostgresInCi } from '../helpers/test-databases.js';
import { expectCleanFailure, runCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { downloadSha256, hostFor } from '../helpers/visitor.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const MiB = 1024 * 1024;
/** What a download moves beside its body: the request head up, the response head down. */
const HEADS = 4096;

/** A raw keep-alive visitor connection: one request at a time, the answer read by its Content-Length. */
class KeptConnection {
  readonly socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => { this.#buffer = Buffer.concat([this.#buffer, chunk]); });
    this.socket.on('close', () => { this.#closed = true; });
    this.socket.on('error', () => undefined);
  }

  /** Sends a GET and returns the status line, the head and the body; rejects when the connection closes first. */
  async get(host: string, path: string): Promise<{ status: number; head: string; body: string }> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\r\n\r\n`);
    return eventually(`an answer to ${path}`, () => {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#closed) throw new Error('closed before an answer');
        return undefined;
      }
      const head = this.#buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.#buffer.length < end + 4 + length) return undefined;
      const body = this.#buffer.subarray(end + 4, end + 4 + length).toString();
      this.#buffer = this.#buffer.subarray(end + 4 + length);
      return { status: Number(head.split(' ')[1]), head, body };
    });
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** A TCP visitor that sends `text` and waits for it to come back (echo), or for the close. */
async function echoOnce(socket: net.Socket, text: string): Promise<string> {
  let got = '';
  const onData = (chunk: Buffer): void => { got += chunk.toString(); };
  socket.on('data', onData);
  socket.write(text);
  try {
    return await eventually(`the echo of ${text}`, () => (got.length >= text.length ? got : undefined));
  } finally {
    socket.off('data', onData);
  }
}

async function connectTcp(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

describeOnDatabases('traffic per name and the names limit through the real edge on %s', ({ backend, open }) => {
  test('a download\'s and a TCP echo\'s bytes are counted per name and reach the database; the names limit refuses the N+1th on the API and for a tunnel route', async () => {
    const db = await backend.fresh();
    const edge = await startTestEdge({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    const origin = await startHttpOrigin();
    const echo = await startTcpEcho();
    let agent: Agent | undefined;
    try {
      const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      open.push(store);
      const alice = await store.createAccount('alice');
      await openAccountLimits(store).set('alice', { maxNames: 2 });
      agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alice-web' }, { kind: 'tcp', localPort: echo.port }], { token: alice.token });
      const tcpPort = agent.routes.find((route) => route.kind === 'tcp')!.port!;

      const got = await downloadSha256(edge, 'alice-web', `/bytes/${3 * MiB}`);
      expect(got).toMatchObject({ status: 200, length: 3 * MiB, sha256: patternSha256(3 * MiB) });
      const socket = await connectTcp(tcpPort);
      expect(await echoOnce(socket, 'x'.repeat(1000))).toBe('x'.repeat(1000));
      socket.destroy();

      // Through a second meter on the same database: only what the edge's flush wrote.
      await edge.edge.quotas.meter!.flush();
      const reader = openTrafficMeter(store);
      open.push(reader);
      const rows = await reader.trafficByHour('alice', new Date(Date.now() - 3_600_000));
      const web = rows.find((row) => row.name === 'alice-web')!;
      expect(web.bytesOut).toBeGreaterThanOrEqual(3 * MiB);
      expect(web.bytesOut).toBeLessThan(3 * MiB + HEADS);
      expect(web.bytesIn).toBeGreaterThan(0);
      expect(web.bytesIn).toBeLessThan(HEADS);
      const tcpName = agent.routes.find((route) => route.kind === 'tcp')!.name ?? `tcp:${tcpPort}`;
      const tcp = rows.find((row) => row.name === tcpName);
      expect(tcp).toMatchObject({ bytesIn: 1000, bytesOut: 1000 });
      expect((await reader.topNames(new Date(Date.now() - 3_600_000), 1))[0]).toMatchObject({ account: 'alice', name: 'alice-web' });

      // Names: alice-web is one, one more is fine, the third is refused; a name she owns is fine again.
      const claim = (name: string): Promise<Response> => fetch(`${edge.serverUrl}/api/v1/names`, {
        method: 'POST', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }),
      });
      expect((await claim('alice-two')).status).toBe(201);
      const refused = await claim('alice-three');
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: { code: 'name_limit' } });
      expect((await claim('alice-web')).status).toBe(200);
      const outcome = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alice-four' }], { token: alice.token })
        .then((a) => { a.stop(); return 'registered'; }, (error: unknown) => (isUdnsError(error) ? error.code : String(error)));
      expect(outcome).toBe('name_limit');
      expect(await store.nameOwner('alice-four')).toBeNull();
    } finally {
      agent?.stop();
      await origin.close();
      await echo.close();
      await edge.close();
    }
  });
}, pgBin);

describe('bandwidth and concurrent-visitor limits through the real edge and agent', () => {
  let edge: TestEdge;
  let origin: Origin;
  let echo: Origin;
  let agent: Agent;
  let bobAgent: Agent;

  beforeAll(async () => {
    edge = await startTestEdge({ maxVisitorsPerRoute: 2 });
    origin = await startHttpOrigin();
    echo = await startTcpEcho();
    const bob = await edge.createAccount('bob');
    const set = await runCli(['account', 'limits', 'bob', '--bandwidth', '1MiB/s', '--route-bandwidth', '2MiB/s', '--visitors', '10', '--data-dir', edge.dataDir]);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/bandwidth +1 MiB\/s/);
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'crowded' }, { kind: 'tcp', localPort: echo.port }]);
    bobAgent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'bob-slow' }], { token: bob });
  }, 60_000);
  afterAll(async () => {
    agent?.stop();
    bobAgent?.stop();
    await origin?.close();
    await echo?.close();
    await edge?.close();
  });

  test('1 MiB/s on the account: a 3 MiB download arrives whole, every byte charged to the account\'s and the route\'s buckets, the reader paused', async () => {
    const got = await downloadSha256(edge, 'bob-slow', `/bytes/${3 * MiB}`);
    expect(got).toMatchObject({ status: 200, length: 3 * MiB, sha256: patternSha256(3 * MiB) });
    const stats = edge.edge.quotas.stats('bob', 'bob-slow');
    // A bucket holds one second's worth: 3 MiB at 1 MiB/s cannot pass without waiting.
    expect(stats.accountBucket!.taken).toBeGreaterThanOrEqual(3 * MiB);
    expect(stats.accountBucket!.pauses).toBeGreaterThan(0);
    expect(stats.routeBucket!.taken).toBe(stats.accountBucket!.taken);
    // Nobody else is shaped: the admin account has no bucket.
    expect(edge.edge.quotas.stats('admin', 'crowded').accountBucket).toBeNull();
  });

  test('over 2 concurrent visitors of a route: 429 with Retry-After and a page; the two keep working; a freed place is taken again', async () => {
    const host = hostFor(edge, 'crowded');
    const first = new KeptConnection(edge.edge.httpPort);
    const second = new KeptConnection(edge.edge.httpPort);
    try {
      expect((await first.get(host, '/bytes/10')).status).toBe(200);
      expect((await second.get(host, '/bytes/10')).status).toBe(200);
      const third = new KeptConnection(edge.edge.httpPort);
      const refused = await third.get(host, '/bytes/10');
      expect(refused.status).toBe(429);
      expect(refused.head).toMatch(/\r\nretry-after: 5/i);
      expect(refused.body).toMatch(/&quot;crowded&quot; has 2 visitor connections open/);
      await eventually('the refused connection closed', () => (third.closed ? true : undefined));
      expect((await first.get(host, '/bytes/10')).status).toBe(200);
      expect((await second.get(host, '/bytes/10')).status).toBe(200);
      expect(edge.logs()).toMatch(/visitor refused: concurrent visitors limit reached/);

      first.socket.destroy();
      await eventually('the place freed', () => (edge.edge.quotas.stats('admin', 'crowded').routeVisitors === 1 ? true : undefined));
      const fourth = new KeptConnection(edge.edge.httpPort);
      expect((await fourth.get(host, '/bytes/10')).status).toBe(200);
      fourth.socket.destroy();
    } finally {
      first.socket.destroy();
      second.socket.destroy();
    }
  });

  test('over 2 concurrent visitors of a tcp route: the third connection is closed with a log line naming the route and the limit; the two keep echoing', async () => {
    const port = agent.routes.find((route) => route.kind === 'tcp')!.port!;
    const a = await connectTcp(port);
    const b = await connectTcp(port);
    try {
      expect(await echoOnce(a, 'one')).toBe('one');
      expect(await echoOnce(b, 'two')).toBe('two');
      const c = await connectTcp(port);
      let got = '';
      c.on('data', (chunk: Buffer) => { got += chunk.toString(); });
      c.write('three');
      await once(c, 'close');
      expect(got).toBe('');
      const line = edge.logs().split('\n').find((text) => text.includes('tcp visitor refused'));
      expect(JSON.parse(line!)).toMatchObject({ port, limit: 'maxVisitorsPerRoute', max: 2 });
      expect(await echoOnce(a, 'again')).toBe('again');
      expect(await echoOnce(b, 'still')).toBe('still');
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  test('bad input to udns account limits: one line, a non-zero exit, nothing changed', async () => {
    expectCleanFailure(await runCli(['account', 'limits', 'bob', '--bandwidth', 'abc', '--data-dir', edge.dataDir]), /--bandwidth: "abc" is not a rate such as 10MB\/s/);
    expectCleanFailure(await runCli(['account', 'limits', 'bob', '--visitors', 'lots', '--names', '2', '--data-dir', edge.dataDir]), /--visitors: "lots" is not a number/);
    const store = await openAccountStore({ dataDir: edge.dataDir });
    try {
      expect(await openAccountLimits(store).getByName('bob')).toEqual({ maxNames: null, bandwidth: 1024 * 1024, routeBandwidth: 2 * 1024 * 1024, maxVisitors: 10, routeMaxVisitors: null });
    } finally {
      await store.close();
    }
  });
});
