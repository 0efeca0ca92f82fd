import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

const run = promisify(execFile);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return isUdnsError(error) ? error.code : `not a UdnsError: ${String(error)}`;
  }
}

describe('accounts, tokens and names', () => {
  let edge: TestEdge;
  let origin: Origin;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test('a name claimed by one account is name_taken for another, even when its owner is offline', async () => {
    const alice = await edge.createAccount('alice');
    const bob = await edge.createAccount('bob');
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alicepc' }], { token: alice });
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alicepc' }], { token: bob }))).toBe('name_taken');
    agent.stop();
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alicepc' }], { token: bob }))).toBe('name_taken');
    // The owner still gets it back.
    const again = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alicepc' }], { token: alice });
    again.stop();
  });

  test('a bad token is refused (401) and never appears in the logs', async () => {
    const bogus = 'udns_thisTokenDoesNotExistAnywhere000000000000';
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port }], { token: bogus }))).toBe('unauthorized');
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'logcheck' }]);
    await visit(edge, 'logcheck', '/echo');
    agent.stop();
    const logs = edge.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(bogus);
    expect(logs).not.toContain(edge.adminToken);
  });

  test('a revoked token stops working', async () => {
    const token = await edge.createAccount('carol');
    await run(process.execPath, ['bin/udns.js', 'account', 'revoke-token', 'carol', token.slice(0, 10), '--data-dir', edge.dataDir]);
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port }], { token }))).toBe('unauthorized');
  });

  test('invalid and reserved names are refused with their own codes', async () => {
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'www' }]))).toBe('name_reserved');
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: '-bad-' }]))).toBe('name_invalid');
    expect(await codeOf(startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'a'.repeat(64) }]))).toBe('name_invalid');
  });

  test('no --name: a random readable name that works', async () => {
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port }]);
    try {
      const name = agent.routes[0]!.name!;
      expect(name).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
      expect((await visit(edge, name, '/echo')).status).toBe(200);
    } finally {
      agent.stop();
    }
  });

  test('DNS answers a claimed name with the public IP and TTL 60, NXDOMAIN for others', async () => {
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'dnsname' }]);
    agent.stop();
    const dig = (name: string) => run('dig', ['@127.0.0.1', '-p', String(edge.edge.dnsUdpPort), name, 'A', '+noall', '+answer', '+comments', '+time=2', '+tries=1']);
    const claimed = await dig('DnsName.localhost');
    expect(claimed.stdout).toMatch(/status: NOERROR/);
    expect(claimed.stdout).toMatch(/DnsName\.localhost\.\s+60\s+IN\s+A\s+127\.0\.0\.1/);
    const unknown = await dig('never-claimed.localhost');
    expect(unknown.stdout).toMatch(/status: NXDOMAIN/);
  });

  test('CAA records given with --caa are served at the apex', async () => {
    const caaEdge = await startTestEdge({ caa: ['0 issue "letsencrypt.org"', '0 iodef "mailto:security@example.net"'] });
    try {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(caaEdge.edge.dnsUdpPort), 'localhost', 'CAA', '+short', '+time=2', '+tries=1']);
      expect(stdout.trim().split('\n').sort()).toEqual(['0 iodef "mailto:security@example.net"', '0 issue "letsencrypt.org"']);
    } finally {
      await caaEdge.close();
    }
  });
});
