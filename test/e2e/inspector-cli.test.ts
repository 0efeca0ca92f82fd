import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/** A request to the inspector with any Host (fetch cannot set it). */
function ask(port: number, method: string, pathname: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path: pathname, agent: false, headers: { host: `127.0.0.1:${port}`, ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    request.on('error', reject);
    request.end(method === 'POST' ? '{}' : undefined);
  });
}

describe('udns http and udns up serve the request inspector (on by default, --inspect=false / --no-inspect off)', () => {
  let edge: TestEdge;
  let origin: Origin;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const running: CliProcess[] = [];

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-inspector-cli-'));
    env = { UDNS_CONFIG: path.join(dir, 'config.json'), UDNS_TOKEN: edge.adminToken };
  });
  afterEach(async () => {
    for (const agent of running.splice(0)) {
      agent.child.kill('SIGINT');
      await agent.exited;
    }
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const inspectorPort = (agent: CliProcess): Promise<number> => eventually('the inspector line', () => {
    const found = /^udns: inspector: http:\/\/127\.0\.0\.1:(\d+)$/m.exec(agent.stderr());
    return found ? Number(found[1]) : undefined;
  }, { timeoutMs: 15_000, intervalMs: 50 });

  test('udns http --inspect-port 0: the URL on stderr once; a visit is listed; an unknown replay is a 404; a foreign Host a 403', async () => {
    const agent = spawnCli(['http', String(origin.port), '--name', 'inspected', '--server', edge.serverUrl, '--inspect-port', '0'], env);
    running.push(agent);
    await agent.waitForOutput(/ -> /);
    const port = await inspectorPort(agent);
    expect((await visit(edge, 'inspected', '/echo?seen=1')).status).toBe(200);
    const listed = await eventually('the visit listed', async () => {
      const { body } = await ask(port, 'GET', '/api/requests');
      return body.requests.find((r: { path: string; state: string }) => r.path === '/echo?seen=1' && r.state === 'complete');
    }, { timeoutMs: 10_000, intervalMs: 50 });
    expect(listed).toMatchObject({ method: 'GET', status: 200, replayOf: null });
    expect(await ask(port, 'POST', '/api/requests/424242/replay', { 'content-type': 'application/json' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await ask(port, 'GET', '/api/requests', { host: 'evil.com' })).status).toBe(403);
    expect(agent.stderr().match(/inspector:/g)).toHaveLength(1);
  });

  test.each([['--inspect=false'], ['--no-inspect'], ['--inspect', 'false']])('udns http %s: no inspector (no line, nothing listening)', async (...flags) => {
    const agent = spawnCli(['http', String(origin.port), '--name', `off${flags.length}${flags[0]!.length}`, '--server', edge.serverUrl, ...flags], env);
    running.push(agent);
    await agent.waitForOutput(/ -> /);
    agent.child.kill('SIGINT');
    await agent.exited;
    expect(agent.stderr()).not.toContain('inspector');
  });

  test('udns up: inspectPort in the config file, and --inspect=false over the file', async () => {
    const file = path.join(dir, 'agent.yml');
    fs.writeFileSync(file, `inspectPort: 0\nroutes:\n  - http: ${origin.port}\n    name: upinspected\n`);
    const agent = spawnCli(['up', '--config', file, '--server', edge.serverUrl], env);
    running.push(agent);
    await agent.waitForOutput(/ -> /);
    const port = await inspectorPort(agent);
    expect((await visit(edge, 'upinspected', '/echo')).status).toBe(200);
    await eventually('listed', async () => ((await ask(port, 'GET', '/api/requests?method=GET')).body.requests.length > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    agent.child.kill('SIGINT');
    await agent.exited;

    const off = spawnCli(['up', '--config', file, '--server', edge.serverUrl, '--inspect=false'], env);
    running.push(off);
    await off.waitForOutput(/ -> /);
    off.child.kill('SIGINT');
    await off.exited;
    expect(off.stderr()).not.toContain('inspector');
  });
});
