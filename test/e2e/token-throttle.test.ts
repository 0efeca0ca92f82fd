import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import { startAgent } from '../../agent/agent.js';
import { generateToken } from '../../server/accounts/token-secret.js';
import { apiCall } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin } from '../helpers/origins.js';
import { expectCleanFailure, runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const run = promisify(execFile);
const DDCLIENT = '/usr/bin/ddclient';
/** The edge's burst of failures per network (AUTH_FAILURE_LIMITS.burst). */
const BURST = 20;
/** A refill so slow that no test sees one: the counts below are exact, however slow the machine. */
const NO_REFILL = { tokenGate: { limits: { refillMs: 3_600_000 } } };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request to the edge from `localAddress` (127.0.0.x: each is a network of its own); 101 for an upgrade. */
function send(edge: TestEdge, localAddress: string, target: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: edge.edge.httpPort, path: target, headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: 101, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/** How each entry point takes a token, and how it answers: accepted, rejected, or throttled. */
const entryPoints = {
  api: {
    send: (edge: TestEdge, from: string, token: string) => send(edge, from, '/api/v1/me', { authorization: `Bearer ${token}` }),
    outcome: (answer: Answer) => ({ 200: 'accepted', 401: 'rejected', 429: 'throttled' } as Record<number, string>)[answer.status] ?? `HTTP ${answer.status}`,
  },
  tunnel: {
    send: (edge: TestEdge, from: string, token: string) => send(edge, from, '/_udns/tunnel', { connection: 'Upgrade', upgrade: 'udns-tunnel', authorization: `Bearer ${token}` }),
    outcome: (answer: Answer) => ({ 101: 'accepted', 401: 'rejected', 429: 'throttled' } as Record<number, string>)[answer.status] ?? `HTTP ${answer.status}`,
  },
  dyndns: {
    send: (edge: TestEdge, from: string, token: string, user = 'alice') => send(edge, from, '/nic/update?hostname=alice.localhost,www.alice.localhost&myip=203.0.113.9', {
      authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`,
    }),
    outcome: (answer: Answer) => {
      if (answer.status === 401 && answer.body === 'badauth\n') return 'rejected';
      // dyndns2 has no 429: a blocked host is `abuse`, one line per hostname, in a 200 that clients read.
      if (answer.status === 200 && answer.body === 'abuse\nabuse\n') return 'throttled';
      if (answer.status === 200 && /^(good|nochg) /.test(answer.body)) return 'accepted';
      return `HTTP ${answer.status} ${answer.body}`;
    },
  },
};
type EntryPoint = keyof typeof entryPoints;

async function check(edge: TestEdge, entry: EntryPoint, from: string, token: string): Promise<{ outcome: string; answer: Answer }> {
  const answer = await entryPoints[entry].send(edge, from, token);
  return { outcome: entryPoints[entry].outcome(answer), answer };
}

/** `count` wrong (well-formed) tokens from `from`, ten at a time; the outcomes counted. */
async function flood(edge: TestEdge, entry: EntryPoint, from: string, count: number): Promise<{ outcomes: Record<string, number>; retryAfter: Set<string | undefined> }> {
  const outcomes: Record<string, number> = {};
  const retryAfter = new Set<string | undefined>();
  for (let sent = 0; sent < count; sent += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, count - sent) }, () => check(edge, entry, from, generateToken())));
    for (const { outcome, answer } of batch) {
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (outcome === 'throttled') retryAfter.add(answer.headers['retry-after']);
    }
  }
  return { outcomes, retryAfter };
}

describe('wrong tokens are throttled per network', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function edgeWithAlice(options: Parameters<typeof startTestEdge>[1] = NO_REFILL): Promise<{ edge: TestEdge; alice: string }> {
    const edge = await startTestEdge({}, options);
    cleanups.push(() => edge.close());
    const alice = await edge.createAccount('alice');
    expect((await apiCall(edge, alice, 'POST', '/names', { name: 'alice' })).status).toBe(201);
    return { edge, alice };
  }

  for (const entry of Object.keys(entryPoints) as EntryPoint[]) {
    test(`${entry}: a flood from one address is refused unchecked after ${BURST} failures; a valid token from it and other networks still pass`, async () => {
      const { edge, alice } = await edgeWithAlice();
      const flooder = '127.0.0.11';
      // Alice has used her token before (from home): the edge knows it is good.
      expect((await check(edge, entry, '127.0.0.1', alice)).outcome).toBe('accepted');
      const bob = await edge.createAccount('bob');

      const before = edge.edge.tokenChecks();
      const { outcomes, retryAfter } = await flood(edge, entry, flooder, 100);
      expect(outcomes).toEqual({ rejected: BURST, throttled: 100 - BURST });
      // Seconds until the network may fail once more (the test's refill is an hour).
      for (const seconds of retryAfter) expect(Number(seconds)).toBeGreaterThan(3500);
      // Only the first 20 cost a database lookup.
      const after = edge.edge.tokenChecks();
      expect(after.lookups - before.lookups).toBe(BURST);
      expect(after.throttled - before.throttled).toBe(100 - BURST);

      // During the flood: Alice's known token still passes from the flooder's own address…
      expect((await check(edge, entry, flooder, alice)).outcome).toBe('accepted');
      // …another network is not touched (its wrong tokens are still checked, its good ones pass)…
      expect((await check(edge, entry, '127.0.0.12', generateToken())).outcome).toBe('rejected');
      expect((await check(edge, entry, '127.0.0.12', alice)).outcome).toBe('accepted');
      // …but a token this edge has not seen work waits like a guess from the throttled network.
      expect((await check(edge, entry, flooder, bob)).outcome).toBe('throttled');
      expect(edge.edge.tokenChecks().lookups - after.lookups).toBe(3);
      expect(edge.logs()).toMatch(/too many rejected tokens: checks throttled.*127\.0\.0\.11\/32|127\.0\.0\.11\/32.*too many rejected tokens: checks throttled/);
      expect(edge.logs()).not.toContain(alice);
    });
  }

  test('one budget for all three entry points, and malformed tokens use it up without any lookup', async () => {
    const { edge } = await edgeWithAlice();
    const before = edge.edge.tokenChecks();
    for (let i = 0; i < BURST; i++) {
      const answer = await send(edge, '127.0.0.21', '/api/v1/me', { authorization: 'Bearer udns_short' });
      expect(answer.status).toBe(401);
    }
    expect(edge.edge.tokenChecks().lookups).toBe(before.lookups);
    for (const entry of Object.keys(entryPoints) as EntryPoint[]) {
      expect((await check(edge, entry, '127.0.0.21', generateToken())).outcome).toBe('throttled');
    }
    const api = await send(edge, '127.0.0.21', '/api/v1/me', { authorization: `Bearer ${generateToken()}` });
    expect(api.status).toBe(429);
    expect(JSON.parse(api.body)).toEqual({ error: { code: 'rate_limited', message: `too many rejected tokens from your network: try again in ${api.headers['retry-after']} s` } });
    expect(edge.edge.tokenChecks().lookups).toBe(before.lookups);
    // A request without credentials costs no lookup, so it is not counted and stays a 401.
    expect((await send(edge, '127.0.0.22', '/api/v1/me', {})).status).toBe(401);
  });

  test('dyndns2: a good token of another account is a failure too', async () => {
    const { edge, alice } = await edgeWithAlice();
    for (let i = 0; i < BURST; i++) {
      const answer = await entryPoints.dyndns.send(edge, '127.0.0.31', alice, 'bob');
      expect(answer).toMatchObject({ status: 401, body: 'badauth\n' });
    }
    expect((await check(edge, 'dyndns', '127.0.0.31', generateToken())).outcome).toBe('throttled');
  });

  test('the agent waits as long as a 429 says before it reconnects, says so, then comes back', async () => {
    // No memory of good tokens, so the agent's own reconnect meets the throttle.
    const { edge, alice } = await edgeWithAlice({ tokenGate: { knownTokens: 0, limits: { refillMs: 2_000 } } });
    const relay = await startRelay(edge.edge.httpPort);
    cleanups.push(() => relay.close());
    const origin = await startHttpOrigin();
    cleanups.push(() => origin.close());
    const agent = await startAgent({ serverUrl: relay.url, token: alice, routes: [{ kind: 'http', localPort: origin.port }] });
    cleanups.push(() => agent.stop());
    const offline: Array<{ reason: string; delayMs: number }> = [];
    let online = 0;
    agent.on('offline', (reason: string, delayMs: number) => offline.push({ reason, delayMs }));
    agent.on('online', () => { online++; });

    // Someone on the agent's network (127.0.0.1, where the relay connects from) floods.
    await eventually('the agent\'s network throttled', async () => (await check(edge, 'api', '127.0.0.1', generateToken())).outcome === 'throttled' || undefined);
    const before = edge.edge.tokenChecks();
    relay.cut();

    const refused = await eventually('the agent told to wait', () => offline.find((event) => /too many rejected tokens/.test(event.reason)));
    const asked = Number(/\(it asks for (\d+) s\)/.exec(refused.reason)?.[1]);
    expect(refused.reason).toMatch(/^the edge turned the token away unchecked: too many rejected tokens from this network lately \(it asks for \d+ s\)$/);
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(refused.delayMs).toBeGreaterThanOrEqual(asked * 1000);
    await eventually('the agent back online', () => online > 0 || undefined, { timeoutMs: 20_000 });
    // One refusal: it came back when told, not before.
    expect(edge.edge.tokenChecks().throttled - before.throttled).toBe(1);
  });

  test('the CLI says in one line why and for how long, at the API and when an agent starts', async () => {
    const { edge, alice } = await edgeWithAlice({ tokenGate: { knownTokens: 0, ...NO_REFILL.tokenGate } });
    const env = { UDNS_CONFIG: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-throttle-cli-')), 'config.json') };
    expect((await runCli(['login', alice, '--server', edge.serverUrl], env)).code).toBe(0);
    await flood(edge, 'api', '127.0.0.1', BURST);

    expectCleanFailure(await runCli(['status'], env), /^udns: the edge turned the token away unchecked: too many rejected tokens from this network lately; try again in 3\d{3} s$/);
    expectCleanFailure(await runCli(['http', '3000'], env), /^udns: the edge turned the token away unchecked: too many rejected tokens from this network lately \(it asks for 3\d{3} s\)$/);
  });

  test.runIf(fs.existsSync(DDCLIENT))('ddclient reports a throttled network as abuse and does not update', async () => {
    const { edge, alice } = await edgeWithAlice({ tokenGate: { knownTokens: 0, ...NO_REFILL.tokenGate } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ddclient-throttle-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const conf = path.join(dir, 'ddclient.conf');
    fs.writeFileSync(conf, ['daemon=0', 'syslog=no', 'protocol=dyndns2', 'use=ip, ip=198.51.100.23', `server=127.0.0.1:${edge.edge.httpPort}`,
      'ssl=no', 'login=alice', `password=${alice}`, 'alice.localhost', ''].join('\n'), { mode: 0o600 });
    await flood(edge, 'dyndns', '127.0.0.1', BURST);
    // ddclient exits non-zero when an update failed.
    const result = await run(DDCLIENT, ['-daemon=0', '-file', conf, '-cache', path.join(dir, 'cache'), '-foreground', '-noquiet', '-verbose'])
      .catch((error: { stdout: string; stderr: string }) => error);
    expect(result.stdout + result.stderr).toMatch(/FAILED: +updating alice\.localhost: abuse:/);
    expect(result.stdout + result.stderr).toMatch(/RECEIVE: +Retry-After: 3\d{3}/);
    expect(result.stdout + result.stderr).not.toContain('SUCCESS');
  });
});

/** A TCP relay to the edge whose connections the test can cut, as a network outage would. */
async function startRelay(edgePort: number): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((visitor) => {
    const upstream = net.connect(edgePort, '127.0.0.1');
    for (const socket of [visitor, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    visitor.pipe(upstream).pipe(visitor);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: () => { for (const socket of sockets) socket.destroy(); },
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
