import { afterEach, describe, expect, test } from 'vitest';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, type UdnsError } from '../../protocol/index.js';
import { startHttpOrigin } from '../helpers/origins.js';
import { spawnCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The bound: a dead tunnel is noticed within 30 s on both sides. */
const DEAD_TUNNEL_BOUND_MS = 30_000;

describe('dead and revoked tunnels', () => {
  test('a revoked token ends its live tunnel: the agent stops with "token revoked"', async () => {
    const edge = await startTestEdge({ tokenRecheckSeconds: 1 });
    cleanups.push(() => edge.close());
    const origin = await startHttpOrigin();
    cleanups.push(() => origin.close());
    const token = await edge.createAccount('erin');
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'erinpc' }], { token });
    cleanups.push(() => agent.stop());
    const fatal = new Promise<UdnsError>((resolve) => agent.once('fatal', resolve));
    expect((await visit(edge, 'erinpc', '/echo')).status).toBe(200);

    const cli = spawnCli(['account', 'revoke-token', 'erin', token.slice(0, 10), '--data-dir', edge.dataDir]);
    expect((await cli.exited).code).toBe(0);
    const error = await fatal;
    expect(error.code).toBe('unauthorized');
    expect(error.message).toContain('token revoked');
    expect((await visit(edge, 'erinpc', '/')).status).toBe(502);
  });

  test('a frozen agent (SIGSTOP) is noticed by the edge heartbeat and its name goes offline', async () => {
    const edge = await startTestEdge();
    cleanups.push(() => edge.close());
    const origin = await startHttpOrigin();
    cleanups.push(() => origin.close());
    const agent = spawnCli(['http', String(origin.port), '--name', 'frozen', '--server', edge.serverUrl, '--token', edge.adminToken]);
    cleanups.push(() => { agent.child.kill('SIGCONT'); agent.child.kill('SIGKILL'); });
    await agent.waitForOutput(/frozen\.localhost/);
    expect(edge.edge.tunnelCount()).toBe(1);

    agent.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    while (edge.edge.tunnelCount() > 0 && Date.now() - stoppedAt < DEAD_TUNNEL_BOUND_MS + 5000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(edge.edge.tunnelCount()).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(DEAD_TUNNEL_BOUND_MS);
    expect((await visit(edge, 'frozen', '/')).status).toBe(502);
  }, 60_000);

  test('a frozen edge (SIGSTOP) is noticed by the agent heartbeat, which then reconnects', async () => {
    const origin = await startHttpOrigin();
    cleanups.push(() => origin.close());
    const fs = await import('node:fs');
    const dataDir = fs.mkdtempSync('/tmp/udns-frozen-edge-');
    const server = spawnCli(['server', '--http-port', '0', '--dns-port', '0', '--bind', '127.0.0.1', '--log-level', 'silent', '--data-dir', dataDir]);
    cleanups.push(() => { server.child.kill('SIGCONT'); server.child.kill('SIGKILL'); });
    // Not a terminal: the edge names the admin token's file instead of printing the token.
    const out = await server.waitForOutput(/udns login - --server (\S+)/);
    const serverUrl = /udns login - --server (\S+)/.exec(out)![1];
    const token = fs.readFileSync(`${dataDir}/admin-token`, 'utf8').trim();
    const { startAgent } = await import('../../agent/agent.js');
    const agent = await startAgent({ serverUrl: serverUrl!.replace('localhost', '127.0.0.1'), token: token!, routes: [{ kind: 'http', localPort: origin.port, name: 'patient' }] });
    cleanups.push(() => agent.stop());

    const offline = new Promise<string>((resolve) => agent.once('offline', resolve));
    server.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await offline;
    const noticedAfter = Date.now() - stoppedAt;
    expect(noticedAfter).toBeLessThan(DEAD_TUNNEL_BOUND_MS);
    expect(noticedAfter).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS - 1000);
    expect(HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS).toBeLessThanOrEqual(DEAD_TUNNEL_BOUND_MS);

    // Thawed, the edge takes the agent back by itself.
    const online = new Promise((resolve) => agent.once('online', resolve));
    server.child.kill('SIGCONT');
    await online;
  }, 90_000);
});
