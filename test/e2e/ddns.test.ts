import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { writeTokenFile } from '../helpers/token-file.js';
import { visit } from '../helpers/visitor.js';

const run = promisify(execFile);

describe('udns ddns', () => {
  let edge: TestEdge;
  let flags: string[];
  const dig = async (name: string): Promise<string> =>
    (await run('dig', ['@127.0.0.1', '-p', String(edge.edge.dnsUdpPort), `${name}.localhost`, 'A', '+short', '+time=2', '+tries=1'])).stdout.trim();

  beforeAll(async () => {
    // A public IP that is not loopback, so the member's own address is told apart in answers.
    edge = await startTestEdge({ publicIp: '192.0.2.1' });
    flags = ['--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken)];
  });
  afterAll(async () => { await edge?.close(); });

  test('the edge tells a caller its own address', async () => {
    const response = await visit(edge, null, '/api/v1/address', { headers: { authorization: `Bearer ${edge.adminToken}` } });
    expect(JSON.parse(response.body)).toEqual({ address: '127.0.0.1', family: 4 });
  });

  test('points a name at this machine, at once in DNS; a second run changes nothing', async () => {
    expect((await runCli(['name', 'claim', 'homepc', ...flags])).code).toBe(0);
    expect(await dig('homepc')).toBe('192.0.2.1');
    const first = await runCli(['ddns', 'homepc', '--once', '--ipv4', ...flags]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('homepc A 127.0.0.1\n');
    expect(await dig('homepc')).toBe('127.0.0.1');
    const again = await runCli(['ddns', 'homepc', '--once', '--ipv4', ...flags]);
    expect(again.stdout).toBe('homepc A 127.0.0.1 (unchanged)\n');
  });

  test('a name the account does not own: one clear line, non-zero exit', async () => {
    const result = await runCli(['ddns', 'nobodys', '--once', ...flags]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^udns: /);
  });

  test('a bad interval is refused', async () => {
    const result = await runCli(['ddns', 'homepc', '--interval', '5', ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the interval is a number of seconds from 30 to 86400');
  });
});
