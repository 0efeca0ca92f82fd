import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { closedPort, startHttpOrigin, type Origin } from '../helpers/origins.js';
import { expectCleanFailure, runCli, spawnCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

describe('the udns CLI', () => {
  let edge: TestEdge;
  let origin: Origin;
  let configDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-cli-'));
    env = { UDNS_CONFIG: path.join(configDir, 'sub', 'config.json') };
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test('login checks the token, then saves server and token in a 0600 file', async () => {
    const result = await runCli(['login', edge.adminToken, '--server', edge.serverUrl], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('logged in to');
    expect(result.stdout).toContain('as admin');
    const file = env.UDNS_CONFIG!;
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ server: edge.serverUrl, token: edge.adminToken });
  });

  test('login with a rejected token fails and saves nothing', async () => {
    const otherEnv = { UDNS_CONFIG: path.join(configDir, 'never.json') };
    expectCleanFailure(await runCli(['login', 'udns_nope', '--server', edge.serverUrl], otherEnv), /^udns: token rejected/);
    expect(fs.existsSync(otherEnv.UDNS_CONFIG)).toBe(false);
  });

  test('`udns http` prints "<public-url> -> <local target>", status lists it, Ctrl-C closes cleanly', async () => {
    const agent = spawnCli(['http', String(origin.port), '--name', 'clidemo'], env);
    const out = await agent.waitForOutput(/\n/);
    expect(out).toBe(`http://clidemo.localhost:${edge.edge.httpPort} -> http://127.0.0.1:${origin.port}\n`);
    expect((await visit(edge, 'clidemo', '/echo')).status).toBe(200);

    const status = await runCli(['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('account  admin');
    expect(status.stdout).toContain(`http://clidemo.localhost:${edge.edge.httpPort} -> http://127.0.0.1:${origin.port}`);

    agent.child.kill('SIGINT');
    const exit = await agent.exited;
    // The request inspector is on by default: its URL, once, on stderr (stdout stays the route lines).
    expect(agent.stderr()).toMatch(/^udns: inspector: http:\/\/127\.0\.0\.1:\d+\n$/);
    expect(exit.code).toBe(0);
    const deadline = Date.now() + 5000;
    while (edge.edge.tunnelCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(edge.edge.tunnelCount()).toBe(0);
  });

  // Issue 9 #7: an agent whose local port refused connections said nothing on its own terminal.
  test('`udns http` says once on stderr that the local app refuses, not once per visitor, and when it answers again', async () => {
    const port = await closedPort();
    // --inspect=false: this test reads the whole of stderr (the inspector's line is checked above).
    const agent = spawnCli(['http', String(port), '--name', 'notyet', '--inspect=false'], env);
    await agent.waitForOutput(/notyet/);
    for (let i = 0; i < 3; i++) expect((await visit(edge, 'notyet', '/')).status).toBe(502);
    const refused = `udns: http://127.0.0.1:${port} refused the connection (is your app running?)\n`;
    await eventually('the refusal line', () => (agent.stderr() !== '' ? true : undefined));
    expect(agent.stderr()).toBe(refused);
    // The app starts late, on the port the agent was given.
    const late = http.createServer((_req, res) => res.end('up\n')).listen(port, '127.0.0.1');
    await once(late, 'listening');
    try {
      expect((await visit(edge, 'notyet', '/')).status).toBe(200);
      await eventually('the recovery line', () => (agent.stderr().includes('answers again') ? true : undefined));
      expect(agent.stderr()).toBe(`${refused}udns: http://127.0.0.1:${port} answers again\n`);
    } finally {
      agent.child.kill('SIGINT');
      await agent.exited;
      await new Promise((resolve) => late.close(resolve));
    }
  });

  test('`udns tcp` prints a tcp:// URL', async () => {
    const agent = spawnCli(['tcp', String(origin.port)], env);
    const out = await agent.waitForOutput(/\n/);
    expect(out).toMatch(new RegExp(`^tcp://localhost:30\\d{3} -> 127\\.0\\.0\\.1:${origin.port}\\n$`));
    agent.child.kill('SIGINT');
    await agent.exited;
  });

  test.each([
    [['http', '0'], /port must be a number from 1 to 65535, got "0"/],
    [['http', '70000'], /port must be a number from 1 to 65535/],
    [['tcp', 'ssh'], /port must be a number from 1 to 65535, got "ssh"/],
    [['http', '3000', '--name', 'Bad_Name!'], /invalid name "Bad_Name!"/],
    [['http', '3000', '--name', 'admin'], /the name "admin" is reserved/],
    [['http', '3000', '--transport', 'carrier-pigeon'], /use "raw" \(default, fastest\) or "ws"/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('bad input %j: one clear line, non-zero exit', async (args, pattern) => {
    expectCleanFailure(await runCli(args, env), pattern);
  });

  // Issue 9 #10: commander's errors took two or three lines (the reason, then "(run with --help for usage)").
  test.each([
    [['http', '99999'], 'udns: <port>: port must be a number from 1 to 65535, got "99999" (see `udns http --help`)\n'],
    [['http', '3000', '--direct-port', '0'], 'udns: --direct-port: port must be a number from 1 to 65535, got "0" (see `udns http --help`)\n'],
    [['htp', '3000'], "udns: unknown command 'htp', did you mean http? (see `udns --help`)\n"],
    [['dns', 'add', 'www', 'MX', 'x'], 'udns: <type>: record type must be A, AAAA, TXT or CNAME, got "MX" (see `udns dns add --help`)\n'],
    [['http'], "udns: missing required argument 'port' (see `udns http --help`)\n"],
  ])('the command line refused %j: exactly one udns: line, exit 2', async (args, line) => {
    expect(await runCli(args, env)).toEqual({ code: 2, stdout: '', stderr: line });
  });

  test('server unreachable: one clear line, non-zero exit', async () => {
    const port = await closedPort();
    expectCleanFailure(await runCli(['http', '3000', '--server', `http://127.0.0.1:${port}`], env), /cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  test('token rejected: one clear line, non-zero exit', async () => {
    expectCleanFailure(await runCli(['http', '3000'], { ...env, UDNS_TOKEN: 'udns_wrong' }), /^udns: token rejected: it is unknown or revoked$/);
  });

  test('name taken: one clear line, non-zero exit', async () => {
    const bob = await edge.createAccount('bob');
    const agent = spawnCli(['http', String(origin.port), '--name', 'bobsname'], { ...env, UDNS_TOKEN: bob });
    await agent.waitForOutput(/bobsname/);
    expectCleanFailure(await runCli(['http', String(origin.port), '--name', 'bobsname'], env), /^udns: the name "bobsname" belongs to another account/);
    agent.child.kill('SIGINT');
    await agent.exited;
  });

  test('no saved login: says how to log in', async () => {
    expectCleanFailure(await runCli(['http', '3000'], { UDNS_CONFIG: path.join(configDir, 'absent.json') }), /run `udns login --server <url>`/);
  });

  test('account create prints a token that works; bad account names are refused', async () => {
    const created = await runCli(['account', 'create', 'dave', '--data-dir', edge.dataDir]);
    expect(created.code).toBe(0);
    const token = /^ {2}(udns_\S+)$/m.exec(created.stdout)![1]!;
    const login = await runCli(['login', token, '--server', edge.serverUrl], { UDNS_CONFIG: path.join(configDir, 'dave.json') });
    expect(login.stdout).toContain('as dave');
    expectCleanFailure(await runCli(['account', 'create', 'Not Valid', '--data-dir', edge.dataDir]), /^udns: /);
  });

  // Issue 9 #5: the login line said `--server <edge-url>`, a literal placeholder, with the token in argv.
  test('account create names the edge\'s real URL, from flags or UDNS_* like the edge, and keeps the token out of the login line', async () => {
    const byDefault = await runCli(['account', 'create', 'erin', '--data-dir', edge.dataDir]);
    expect(byDefault.stdout).toContain('erin logs in with `udns login --server http://localhost:8080` and pastes it when asked');
    expect(byDefault.stdout).not.toMatch(/<edge-url>|udns login udns_/);
    const byFlags = await runCli(['account', 'create', 'fred', '--data-dir', edge.dataDir, '--domain', 'example.net', '--http-port', '8000']);
    expect(byFlags.stdout).toContain('udns login --server http://example.net:8000`');
    const byEnv = await runCli(['account', 'token', 'fred', '--data-dir', edge.dataDir], { UDNS_DOMAIN: 'example.net', UDNS_PUBLIC_URL: 'https://example.net' });
    expect(byEnv.stdout).toContain('udns login --server https://example.net`');
  });

  test('account create --token-file: the token only in a new 0600 file, whose login line works', async () => {
    const file = path.join(configDir, 'gina.token');
    const created = await runCli(['account', 'create', 'gina', '--data-dir', edge.dataDir, '--token-file', file]);
    expect(created.code).toBe(0);
    const token = fs.readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^udns_/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(created.stdout).not.toContain(token);
    expect(created.stdout).toContain(`udns login --server http://localhost:8080 --token-file ${file}\n`);
    const login = await runCli(['login', '--server', edge.serverUrl, '--token-file', file], { UDNS_CONFIG: path.join(configDir, 'gina.json') });
    expect(login.stdout).toContain('as gina');
    // An existing file is never written over, and costs no account.
    expectCleanFailure(await runCli(['account', 'create', 'hank', '--data-dir', edge.dataDir, '--token-file', file]), /exists already/, 2);
    expect((await runCli(['account', 'list', '--data-dir', edge.dataDir])).stdout).not.toContain('hank');
  });

  test('server with bad options reports every problem in one line', async () => {
    expectCleanFailure(await runCli(['server', '--http-port', 'eighty', '--public-ip', 'nope', '--data-dir', configDir]), /--http-port: .*--public-ip: must be an IPv4 address/);
  });
});
