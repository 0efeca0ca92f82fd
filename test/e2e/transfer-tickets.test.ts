import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { TRANSFER_REQUESTS_PER_MINUTE, newTicketSecrets, pskClientOptions, type TransferGrant } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { expectCleanFailure, runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/*
 * The three transfer paths on loopback, with the real edge and agents in this process and the
 * real `udns get` as a process (run `npx tsc -p tsconfig.build.json` first): tickets are single
 * use and bound to one file, a forged or replayed ticket fails the TLS handshake, forced paths,
 * fallback in the middle of a file, a tampered byte. The edge's relay counter tells which bytes
 * went through it. (test/e2e/transfer-paths.test.ts does the same across network namespaces.)
 */

const MiB = 1024 * 1024;
const BIG = 24 * MiB;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Answers of one HTTP/1.1 request for `url`'s host and `pathname` over an already open (TLS) socket. */
function getOver(socket: tls.TLSSocket, url: string, pathname: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: false });
    (agent as unknown as { createConnection: () => net.Socket }).createConnection = () => socket;
    const req = http.get({ host: 'transfer', path: pathname, agent, headers: { host: new URL(url).host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Opens a TLS-PSK connection; rejects with the handshake's error. */
function connectPsk(port: number, ticketId: string, psk: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...pskClientOptions(ticketId, psk) });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A TCP relay in front of a port, as a router's port forward or a hostile network would be.
 * With `flipAfter`, one byte of the first TLS connection's answer (towards the client) is
 * flipped once that many bytes went through.
 */
async function startProxy(target: () => number, flipAfter?: number): Promise<{ port: number; flipped(): number; close(): void }> {
  let flipped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const upstream = net.connect(target(), '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let tlsConnection = false;
    let passed = 0;
    client.once('data', (first: Buffer) => { tlsConnection = first[0] === 0x16; });
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      passed += chunk.length;
      if (flipAfter !== undefined && tlsConnection && flipped === 0 && passed > flipAfter) {
        chunk = Buffer.from(chunk);
        chunk[chunk.length - 1]! ^= 0x01;
        flipped++;
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    flipped: () => flipped,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** A port nothing listens on (a firewalled or unforwarded transfer port). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('transfer tickets and paths on loopback', () => {
  let edge: TestEdge;
  let work: string;
  let shared: string;
  let bigSha: string;
  const agents: Agent[] = [];
  const proxies: Array<{ close(): void }> = [];
  let outputs = 0;
  const env = (): NodeJS.ProcessEnv => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: edge.adminToken });
  const outFile = (name: string): string => path.join(work, `out-${++outputs}`, name);

  const share = async (name: string, extra: { transferPublicPort?: number } = {}): Promise<Agent> => {
    const agent = await startAgent({ serverUrl: edge.serverUrl, token: edge.adminToken, routes: [{ kind: 'share', dir: shared, name }], ...extra });
    agents.push(agent);
    return agent;
  };
  const askTicket = async (body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${edge.serverUrl}/api/v1/transfers`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  };
  /** Waits for the edge's first probe of an agent's transfer port to tell `reachable`. */
  const probed = async (url: string): Promise<void> => {
    await eventually('the edge to probe the transfer port', async () => {
      const { status, json } = await askTicket({ url, via: 'direct' });
      return status === 200 || (status === 409 && !/still being checked/.test(String((json.error as { message: string }).message))) ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
  };

  beforeAll(async () => {
    edge = await startTestEdge();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-transfers-'));
    shared = path.join(work, 'shared');
    fs.mkdirSync(shared);
    fs.writeFileSync(path.join(shared, 'small.txt'), 'small file\n');
    fs.writeFileSync(path.join(shared, 'other.txt'), 'another file\n');
    const big = randomBytes(BIG);
    fs.writeFileSync(path.join(shared, 'big.bin'), big);
    bigSha = sha256(big);
  });

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    for (const proxy of proxies) proxy.close();
    await edge?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('a direct ticket opens one TLS connection for one file: other files 403, a replayed, forged or wrong-key ticket fails the handshake', async () => {
    const agent = await share('direct-api');
    const url = `${agent.routes[0]!.url}/small.txt`;
    await probed(url);
    const grant = (await askTicket({ url })).json as TransferGrant;
    expect(grant.via).toBe('direct');
    if (grant.via !== 'direct') return;
    expect(grant.port).toBe(agent.transfers!.listener.port);

    const socket = await connectPsk(grant.port, grant.ticketId, grant.psk);
    const answer = await getOver(socket, url, '/small.txt');
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('small file\n');
    socket.destroy();

    // Replayed: the ticket is used up, even with the right key.
    await expect(connectPsk(grant.port, grant.ticketId, grant.psk)).rejects.toThrow(/ERR_SSL|alert|handshake/i);
    // Forged: an id the edge never issued.
    const forged = newTicketSecrets();
    await expect(connectPsk(grant.port, forged.ticketId, forged.psk)).rejects.toThrow(/ERR_SSL|alert|handshake/i);
    // A live ticket with the wrong key: refused, and burnt.
    const second = (await askTicket({ url })).json as TransferGrant;
    if (second.via !== 'direct') throw new Error(`expected direct, got ${second.via}`);
    await expect(connectPsk(second.port, second.ticketId, newTicketSecrets().psk)).rejects.toThrow(/ERR_SSL|alert|handshake/i);
    await expect(connectPsk(second.port, second.ticketId, second.psk)).rejects.toThrow(/ERR_SSL|alert|handshake/i);

    // A path outside the ticket: 403 on the same connection; only GET and HEAD.
    const third = (await askTicket({ url })).json as TransferGrant;
    if (third.via !== 'direct') throw new Error(`expected direct, got ${third.via}`);
    const outside = await connectPsk(third.port, third.ticketId, third.psk);
    expect((await getOver(outside, url, '/other.txt')).status).toBe(403);
    outside.destroy();
  });

  test('forced paths the edge cannot serve get 409 transfer_unavailable with the reason; a URL of no share gets 400', async () => {
    const agent = await share('forced-api', { transferPublicPort: await closedPort() });
    const url = `${agent.routes[0]!.url}/small.txt`;
    await probed(url);
    const direct = await askTicket({ url, via: 'direct' });
    expect(direct.status).toBe(409);
    expect(direct.json.error).toMatchObject({ code: 'transfer_unavailable', message: expect.stringMatching(/not reachable/) });
    const push = await askTicket({ url, via: 'push' });
    expect(push.status).toBe(409);
    expect((push.json.error as { message: string }).message).toMatch(/no receiver port/);
    expect((await askTicket({ url })).json).toEqual({ via: 'relay' });
    expect((await askTicket({ url: 'http://elsewhere.example/a.txt' })).status).toBe(400);
  });

  test('udns get takes the direct path by itself: the file does not go through the edge, SHA-256 verified', async () => {
    const agent = await share('direct-get');
    const url = `${agent.routes[0]!.url}/big.bin`;
    await probed(url);
    const before = edge.edge.relayedBytes();
    const out = outFile('big.bin');
    const result = await runCli(['get', url, '-o', out, '--no-progress'], env());
    expect(result.stderr).toMatch(/transferred via direct\n/);
    expect(result.stdout).toMatch(/SHA-256 verified/);
    expect(sha256(fs.readFileSync(out))).toBe(bigSha);
    expect(edge.edge.relayedBytes() - before).toBeLessThan(MiB);
  });

  test('udns get --recursive takes the direct path file by file', async () => {
    const agent = await share('recursive-get');
    await probed(`${agent.routes[0]!.url}/small.txt`);
    const before = edge.edge.relayedBytes();
    const dir = path.join(work, `out-${++outputs}`);
    const result = await runCli(['get', `${agent.routes[0]!.url}/`, '--recursive', '-o', dir, '--no-progress'], env());
    expect(result.stderr).toBe('udns: transferred via direct (3 files)\n');
    expect(sha256(fs.readFileSync(path.join(dir, 'big.bin')))).toBe(bigSha);
    expect(fs.readFileSync(path.join(dir, 'small.txt'), 'utf8')).toBe('small file\n');
    expect(edge.edge.relayedBytes() - before).toBeLessThan(MiB);
  });

  test('--via push: the sharer connects to the receiver; --via relay: through the edge', async () => {
    const agent = await share('forced-get');
    const url = `${agent.routes[0]!.url}/big.bin`;
    await probed(url);
    let before = edge.edge.relayedBytes();
    const pushed = outFile('big.bin');
    const push = await runCli(['get', url, '-o', pushed, '--no-progress', '--via', 'push'], env());
    expect(push.stderr).toMatch(/transferred via push\n/);
    expect(sha256(fs.readFileSync(pushed))).toBe(bigSha);
    expect(edge.edge.relayedBytes() - before).toBeLessThan(MiB);

    before = edge.edge.relayedBytes();
    const relayed = outFile('big.bin');
    const relay = await runCli(['get', url, '-o', relayed, '--no-progress', '--via', 'relay'], env());
    expect(relay.stderr).toMatch(/transferred via relay\n/);
    expect(sha256(fs.readFileSync(relayed))).toBe(bigSha);
    expect(edge.edge.relayedBytes() - before).toBeGreaterThan(BIG);
  });

  test('a direct connection cut in the middle of the file: udns get goes on by push from the .part offset', async () => {
    const agent = await share('cut-direct');
    const url = `${agent.routes[0]!.url}/big.bin`;
    await probed(url);
    cutAfter(agent, 'direct', 6 * MiB);
    const before = edge.edge.relayedBytes();
    const out = outFile('big.bin');
    const result = await runCli(['get', url, '-o', out, '--no-progress'], env());
    expect(result.stderr).toMatch(/the direct path broke/);
    expect(result.stderr).toMatch(/transferred via direct, then push\n/);
    expect(sha256(fs.readFileSync(out))).toBe(bigSha);
    expect(edge.edge.relayedBytes() - before).toBeLessThan(MiB);
  });

  test('a sharer not reachable from outside pushes; a push cut in the middle of the file goes on through the relay', async () => {
    const agent = await share('cut-push', { transferPublicPort: await closedPort() });
    const url = `${agent.routes[0]!.url}/big.bin`;
    await probed(url);
    cutAfter(agent, 'push', 6 * MiB);
    const before = edge.edge.relayedBytes();
    const out = outFile('big.bin');
    const result = await runCli(['get', url, '-o', out, '--no-progress'], env());
    expect(result.stderr).toMatch(/transferred via push, then relay\n/);
    expect(result.stdout).toMatch(/SHA-256 verified/);
    expect(sha256(fs.readFileSync(out))).toBe(bigSha);
    // The relay carried the rest only, not the whole file.
    const relayed = edge.edge.relayedBytes() - before;
    expect(relayed).toBeGreaterThan(0);
    expect(relayed).toBeLessThan(BIG - 4 * MiB);
  });

  test('a byte flipped on the direct path fails TLS: nothing wrong is saved, the download goes on by push', async () => {
    let realPort = 0;
    const proxy = await startProxy(() => realPort, 3 * MiB);
    proxies.push(proxy);
    const agent = await share('tampered', { transferPublicPort: proxy.port });
    realPort = agent.transfers!.listener.port;
    const url = `${agent.routes[0]!.url}/big.bin`;
    await probed(url);
    const out = outFile('big.bin');
    const result = await runCli(['get', url, '-o', out, '--no-progress'], env());
    expect(proxy.flipped()).toBe(1);
    expect(result.stderr).toMatch(/transferred via direct, then push\n/);
    expect(result.stdout).toMatch(/SHA-256 verified/);
    expect(sha256(fs.readFileSync(out))).toBe(bigSha);
  });

  test('forced --via direct when the sharer is unreachable: a clear error and exit 1', async () => {
    const agent = await share('unreachable', { transferPublicPort: await closedPort() });
    const url = `${agent.routes[0]!.url}/small.txt`;
    await probed(url);
    const result = await runCli(['get', url, '-o', outFile('small.txt'), '--no-progress', '--via', 'direct'], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no direct path to unreachable\/small\.txt: direct: unreachable's PC is not reachable from outside/);
  });

  test('the relay counter is an admin-only API field', async () => {
    const res = await fetch(`${edge.serverUrl}/api/v1/stats/relay`, { headers: { authorization: `Bearer ${edge.adminToken}` } });
    expect(await res.json()).toEqual({ relayedBytes: edge.edge.relayedBytes() });
    const member = await edge.createAccount('member');
    const denied = await fetch(`${edge.serverUrl}/api/v1/stats/relay`, { headers: { authorization: `Bearer ${member}` } });
    expect(denied.status).toBe(403);
  });
});

describe('a rate-limited ticket request', () => {
  test('regression: udns get --via direct after too many ticket requests says so in one line with the wait, not "rejected tokens"', async () => {
    // An edge of its own: the throttle counts this network for a minute.
    const edge = await startTestEdge();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ticket-limit-'));
    fs.writeFileSync(path.join(work, 'a.txt'), 'a\n');
    const agent = await startAgent({ serverUrl: edge.serverUrl, token: edge.adminToken, noTransfers: true, routes: [{ kind: 'share', dir: work, name: 'limited' }] });
    try {
      for (let i = 0; i < TRANSFER_REQUESTS_PER_MINUTE; i++) {
        const res = await fetch(`${edge.serverUrl}/api/v1/transfers`, {
          method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: 'not a url' }),
        });
        expect(res.status).toBe(400);
      }
      const result = await runCli(['get', `${agent.routes[0]!.url}/a.txt`, '-o', path.join(work, 'out.txt'), '--no-progress', '--via', 'direct'], { UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: edge.adminToken });
      expectCleanFailure(result, /^udns: too many transfer requests from your network: at most \d+ a minute; try again in \d+ s$/);
      // A forced relay needs no ticket: it goes on, saying once that the record will not name the member.
      const relayed = await runCli(['get', `${agent.routes[0]!.url}/a.txt`, '-o', path.join(work, 'relayed.txt'), '--no-progress', '--via', 'relay'], { UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: edge.adminToken });
      expect(relayed.code).toBe(0);
      expect(fs.readFileSync(path.join(work, 'relayed.txt'), 'utf8')).toBe('a\n');
      expect(relayed.stderr.match(/the edge does not record these relay downloads as yours \(too many transfer requests from your network: at most \d+ a minute; try again in \d+ s\); downloading through the edge anyway\n/g)).toHaveLength(1);
    } finally {
      agent.stop();
      await edge.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});

/** Cuts the agent's next `via` connection once it has written `bytes`. */
function cutAfter(agent: Agent, via: 'direct' | 'push', bytes: number): void {
  const listener = (socket: tls.TLSSocket, kind: string): void => {
    if (kind !== via) return;
    agent.transfers!.off('connection', listener);
    let written = 0;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
      written += Buffer.byteLength(chunk);
      if (written > bytes) {
        socket.destroy();
        return false;
      }
      return write(chunk, ...rest);
    }) as typeof socket.write;
  };
  agent.transfers!.on('connection', listener);
}
