import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { DIRECT_CHECK_PATH } from '../../protocol/index.js';
import { apiCall, dig } from '../helpers/edge-client.js';
import { closedPort, startHttpOrigin, type Origin } from '../helpers/origins.js';
import { runCli, spawnCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/** Polls until `check` returns true (the edge re-checks direct routes every second here). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One GET to 127.0.0.1:<port> with a Host header, as a visitor following DNS would send it. */
function directGet(port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('direct mode', () => {
  let edge: TestEdge;
  let origin: Origin;
  const addressOf = async (name: string): Promise<string[]> => (await dig(edge, `${name}.localhost`, 'A')).answers.map((line) => line.split(' ').at(-1)!);
  const serial = async (): Promise<number> => Number((await dig(edge, 'localhost', 'SOA')).answers[0]!.split(' ')[6]);
  const directOf = async (name: string): Promise<any> => {
    const me = await apiCall(edge, edge.adminToken, 'GET', '/me');
    return me.body.tunnels.flatMap((tunnel: any) => tunnel.routes).find((route: any) => route.name === name)?.direct;
  };

  beforeAll(async () => {
    // TEST-NET public IP, never contacted: it only tells the edge's address from the PC's in answers.
    edge = await startTestEdge({ publicIp: '192.0.2.1', directRecheckSeconds: 1 });
    origin = await startHttpOrigin();
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test('a reachable agent gets its name pointed at itself, serves visitors, and falls back when its listener stops', async () => {
    const directPort = await closedPort();
    const before = await serial();
    let listener: { close(): void } | undefined;
    const agent: Agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'straight', directPort }]);
    const states: string[] = [];
    agent.on('direct', (route: { direct?: { close(): void } }, checked: { reachable: boolean; reason?: string }) => {
      listener = route.direct;
      states.push(checked.reachable ? 'reachable' : checked.reason!);
    });
    try {
      await eventually(async () => (await addressOf('straight')).join() === '127.0.0.1');
      expect(await serial()).toBeGreaterThan(before);
      expect(await directOf('straight')).toEqual({ port: directPort, reachable: true, address: '127.0.0.1' });

      // Visitors on the direct port get the same treatment as through the tunnel.
      const response = await directGet(directPort, `straight.localhost:${directPort}`, '/echo');
      expect(response.status).toBe(200);
      const seen = JSON.parse(response.body);
      expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen.headers['x-forwarded-proto']).toBe('http');
      expect(seen.headers['x-forwarded-host']).toBe(`straight.localhost:${directPort}`);

      // The listener goes away (the router closed the port): the next check moves DNS back.
      const switched = await serial();
      listener!.close();
      await eventually(async () => (await addressOf('straight')).join() === '192.0.2.1');
      expect(await serial()).toBeGreaterThan(switched);
      expect(await directOf('straight')).toEqual({ port: directPort, reachable: false, address: '127.0.0.1', reason: 'refused' });
      expect(states).toEqual(['reachable', 'refused']);
    } finally {
      agent.stop();
    }
    // The route is gone: the name stays claimed and points at the edge.
    await eventually(async () => (await addressOf('straight')).join() === '192.0.2.1');
  });

  test('regression: the agent gives its proof only to the edge, so a third party cannot relay the check', async () => {
    const directPort = await closedPort();
    const origin = await startHttpOrigin();
    const agent: Agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'guarded', directPort }]);
    try {
      const reply = await new Promise<string>((resolve) => {
        // Another machine on the LAN (127.0.0.2 here; the edge is 127.0.0.1) asks for the proof.
        const socket = net.connect({ port: directPort, host: '127.0.0.1', localAddress: '127.0.0.2' });
        let out = '';
        socket.on('data', (chunk) => { out += chunk; });
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
        socket.write(`GET ${DIRECT_CHECK_PATH}0123456789abcdef HTTP/1.1\r\nHost: x\r\n\r\n`);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(reply).not.toMatch(/[0-9a-f]{64}/);
    } finally {
      agent.stop();
      await origin.close();
    }
  });

  test('something else on the direct port cannot answer the proof: DNS keeps the edge and says why', async () => {
    const directPort = await closedPort();
    let listener: { close(): void } | undefined;
    const agent: Agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'impostor', directPort }]);
    agent.on('direct', (route: { direct?: { close(): void } }) => { listener ??= route.direct; });
    const other = http.createServer((_req, res) => res.end('not the agent\n'));
    try {
      await eventually(async () => listener !== undefined && (await addressOf('impostor')).join() === '127.0.0.1');
      listener!.close();
      other.listen(directPort);
      await once(other, 'listening');
      await eventually(async () => (await directOf('impostor'))?.reason === 'wrong answer');
      expect(await addressOf('impostor')).toEqual(['192.0.2.1']);
    } finally {
      agent.stop();
      other.close();
    }
  });

  test('a newer tunnel taking the name over decides: without direct mode DNS is the edge again, with it the new check', async () => {
    const first = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'moving', directPort: await closedPort() }]);
    let second: Agent | undefined;
    let third: Agent | undefined;
    try {
      await eventually(async () => (await addressOf('moving')).join() === '127.0.0.1');
      second = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'moving' }]);
      expect(await addressOf('moving')).toEqual(['192.0.2.1']);
      expect(await directOf('moving')).toBeUndefined();
      const thirdPort = await closedPort();
      third = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'moving', directPort: thirdPort }]);
      await eventually(async () => (await directOf('moving'))?.reachable === true);
      expect(await directOf('moving')).toEqual({ port: thirdPort, reachable: true, address: '127.0.0.1' });
      expect(await addressOf('moving')).toEqual(['127.0.0.1']);
      // The replaced tunnels going away does not touch the newer route's answer.
      first.stop();
      second.stop();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await addressOf('moving')).toEqual(['127.0.0.1']);
    } finally {
      first.stop();
      second?.stop();
      third?.stop();
    }
  });

  test('explicit member A records win over the direct address', async () => {
    const directPort = await closedPort();
    const agent: Agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'pinned', directPort }]);
    try {
      expect((await apiCall(edge, edge.adminToken, 'POST', '/names/pinned/records', { type: 'A', value: '198.51.100.7' })).status).toBeLessThan(300);
      await eventually(async () => (await directOf('pinned'))?.reachable === true);
      expect(await addressOf('pinned')).toEqual(['198.51.100.7']);
    } finally {
      agent.stop();
    }
  });

  test('udns http --direct-port prints the state on stderr and udns status shows it', async () => {
    const directPort = await closedPort();
    const flags = ['--server', edge.serverUrl, '--token', edge.adminToken];
    const cli = spawnCli(['http', String(origin.port), '--name', 'clidirect', '--direct-port', String(directPort), ...flags]);
    try {
      await cli.waitForOutput(/clidirect/);
      await eventually(async () => /direct: reachable at 127\.0\.0\.1/.test(cli.stderr()));
      expect(cli.stderr().split('\n').filter((line) => line.includes('direct')).length).toBe(1);
      const status = await runCli(['status', ...flags]);
      expect(status.stdout).toMatch(/clidirect\.localhost.*\[direct: reachable at 127\.0\.0\.1:\d+/);
    } finally {
      cli.child.kill('SIGINT');
      await cli.exited;
    }
  });
});
