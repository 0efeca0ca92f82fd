import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, startTcpEcho, type Origin } from '../helpers/origins.js';
import { spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Sends `ping` to a public tcp port; what came back before the close ('' when refused). */
function tcpExchange(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let out = '';
    socket.on('data', (chunk) => { out += chunk; if (out === 'ping') socket.end(); });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write('ping');
  });
}

/** The public ports `udns up` printed for its tcp routes, in order. */
const tcpPorts = (stdout: string): number[] => [...stdout.matchAll(/^tcp:\/\/[^:\s]+:(\d+) -> /gm)].map((match) => Number(match[1]));

describe('udns up: an edit that changes only a route\'s access rules applies live', () => {
  let edge: TestEdge;
  let origin: Origin;
  let echo: Origin;
  let dir: string;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    echo = await startTcpEcho();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-reload-access-'));
  });
  afterAll(async () => {
    cli?.child.kill('SIGTERM');
    await origin?.close();
    await echo?.close();
    await edge?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('http: basicAuth added, its password changed, denyIp for the visitor added, all removed: new visitors meet the file\'s rules, older connections end', async () => {
    const config = path.join(dir, 'http.yml');
    const head = [`server: ${edge.serverUrl}`, `token: ${edge.adminToken}`, 'routes:', `  - http: ${origin.port}`, '    name: gated'];
    const write = (...rules: string[]): void => fs.writeFileSync(config, [...head, ...rules.map((rule) => `    ${rule}`), ''].join('\n'));
    const statusOf = async (headers: Record<string, string> = {}): Promise<number> => (await visit(edge, 'gated', '/echo', { headers })).status;
    write();
    fs.chmodSync(config, 0o600);
    cli = spawnCli(['up', '--config', config]);
    await cli.waitForOutput(/gated.* -> /);
    // A kept-alive connection opened while the route has no rules.
    const before = net.connect(edge.edge.httpPort, '127.0.0.1');
    let answered = '';
    before.on('data', (chunk) => { answered += chunk; });
    let beforeClosed = false;
    before.on('close', () => { beforeClosed = true; });
    before.on('error', () => {});
    const request = `GET /echo HTTP/1.1\r\nHost: ${hostFor(edge, 'gated')}\r\n\r\n`;
    before.write(request);
    await eventually('the first answer on the kept-alive connection', () => (/^HTTP\/1\.1 200 /.test(answered) ? true : undefined));

    // The file is watched: saving it is enough.
    write('basicAuth: ["alice:correct horse"]');
    await eventually('a visitor without credentials refused', async () => ((await statusOf()) === 401 ? true : undefined));
    expect(await statusOf({ authorization: basic('alice', 'wrong') })).toBe(401);
    const allowed = await visit(edge, 'gated', '/echo', { headers: { authorization: basic('alice', 'correct horse') } });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body).headers.authorization).toBeUndefined();
    // The connection opened before the rules cannot carry a request past them: it ends with its route.
    if (!beforeClosed) before.write(request);
    await eventually('the connection opened before the rules closed', () => (beforeClosed ? true : undefined));
    expect([...answered.matchAll(/^HTTP\/1\.1 200 /gm)]).toHaveLength(1);

    write('basicAuth: ["alice:new password"]');
    await eventually('the old password refused', async () => ((await statusOf({ authorization: basic('alice', 'correct horse') })) === 401 ? true : undefined));
    expect(await statusOf({ authorization: basic('alice', 'new password') })).toBe(200);

    // SIGHUP reloads too; the visitors here come from 127.0.0.1.
    write('basicAuth: ["alice:new password"]', 'denyIp: [127.0.0.1/32]');
    cli.child.kill('SIGHUP');
    await eventually('a visitor from a denied network refused, credentials or not', async () => ((await statusOf({ authorization: basic('alice', 'new password') })) === 403 ? true : undefined));

    write();
    await eventually('the route open again', async () => ((await statusOf()) === 200 ? true : undefined));
    expect(cli.stderr()).not.toMatch(/not reloaded|not added/);
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill('SIGTERM');
    await cli.exited;
    cli = undefined;
  });

  test('tcp: allowIp added then removed applies on the same public port', async () => {
    const config = path.join(dir, 'tcp.yml');
    const head = [`server: ${edge.serverUrl}`, `token: ${edge.adminToken}`, 'routes:', `  - tcp: ${echo.port}`];
    const write = (...rules: string[]): void => fs.writeFileSync(config, [...head, ...rules.map((rule) => `    ${rule}`), ''].join('\n'));
    write();
    fs.chmodSync(config, 0o600);
    cli = spawnCli(['up', '--config', config]);
    await cli.waitForOutput(/tcp:\/\/.* -> /);
    const [port] = tcpPorts(cli.stdout());
    expect(await tcpExchange(port!)).toBe('ping');
    // A connection opened while the route has no rules.
    const before = net.connect({ port: port!, host: '127.0.0.1' });
    let beforeClosed = false;
    before.on('close', () => { beforeClosed = true; });
    before.on('error', () => {});
    const echoed = new Promise<void>((resolve) => before.once('data', () => resolve()));
    before.write('ping');
    await echoed;

    write('allowIp: [192.0.2.0/24]');
    await cli.waitForOutput(/removed:[^\n]*\n[\s\S]*tcp:\/\/.* -> /);
    // Visitors keep the address they know: an edit of the rules does not move the route's port.
    expect(tcpPorts(cli.stdout())).toEqual([port, port]);
    expect(await tcpExchange(port!)).toBe('');
    await eventually('the connection opened before the rules closed', () => (beforeClosed ? true : undefined));

    write();
    await eventually('the port open to all again', async () => ((await tcpExchange(port!)) === 'ping' ? true : undefined));
    expect(tcpPorts(cli.stdout())).toEqual([port, port, port]);
  });
});
