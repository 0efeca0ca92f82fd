import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { expectCleanFailure, runCli, spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('udns http|tcp|share|up access flags and keys', () => {
  let edge: TestEdge;
  let origin: Origin;
  let dir: string;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-access-cli-'));
  });
  afterAll(async () => {
    cli?.child.kill('SIGTERM');
    await origin?.close();
    await edge?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const auth = (): string[] => ['--server', edge.serverUrl, '--token', edge.adminToken];

  test.each([
    [['http', '3000', '--allow-ip', '10.0.0.1/8'], /^udns: --allow-ip "10\.0\.0\.1\/8" has bits set past the \/8: write 10\.0\.0\.0\/8/],
    [['tcp', '22', '--allow-ip', 'my-laptop'], /^udns: --allow-ip "my-laptop" is not an IP network/],
    [['share', '.', '--basic-auth', ':secret'], /^udns: --basic-auth takes user:password/],
  ])('udns %j: one line, non-zero exit, nothing registered', async (args, message) => {
    const result = await runCli([...args, ...auth()]);
    expectCleanFailure(result, message);
    expect(result.stderr).not.toContain('secret');
    expect(edge.logs()).not.toContain('route registered');
  });

  test('udns tcp has no --basic-auth: raw TCP carries any protocol', async () => {
    const result = await runCli(['tcp', '22', '--basic-auth', 'a:b', ...auth()]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown option '--basic-auth'/);
    expect(edge.logs()).not.toContain('route registered');
  });

  test('udns up: a malformed key is one line naming the route and the fix, and nothing is registered', async () => {
    const config = path.join(dir, 'bad.yml');
    fs.writeFileSync(config, ['routes:', `  - http: ${origin.port}`, '    allowIp: [192.168.1.10/2]', `  - http: ${origin.port}`, '    basicAuth: ["nocolon"]', ''].join('\n'));
    const result = await runCli(['up', '--config', config, ...auth()]);
    expectCleanFailure(result, /^udns: .*bad\.yml: .*routes\.0: --allow-ip "192\.168\.1\.10\/2" has bits set.*; routes\.1: --basic-auth takes user:password/);
    expect(edge.logs()).not.toContain('route registered');
  });

  test('udns up: basicAuth and allowIp keys are enforced', async () => {
    const config = path.join(dir, 'agent.yml');
    fs.writeFileSync(config, [
      `server: ${edge.serverUrl}`, `token: ${edge.adminToken}`, 'routes:',
      `  - http: ${origin.port}`, '    name: nas', '    basicAuth: ["alice:correct horse"]',
      `  - http: ${origin.port}`, '    name: elsewhere', '    allowIp: [192.0.2.0/24]',
      '',
    ].join('\n'));
    fs.chmodSync(config, 0o600);
    cli = spawnCli(['up', '--config', config]);
    await cli.waitForOutput(/elsewhere.* -> /);
    await cli.waitForOutput(/nas.* -> /);
    const refused = await visit(edge, 'nas', '/echo');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Basic realm="nas", charset="UTF-8"');
    const allowed = await visit(edge, 'nas', '/echo', { headers: { authorization: basic('alice', 'correct horse') } });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body).headers.authorization).toBeUndefined();
    expect((await visit(edge, 'elsewhere', '/echo')).status).toBe(403);
  });
});
