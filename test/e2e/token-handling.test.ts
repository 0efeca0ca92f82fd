import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { closedPort, startHttpOrigin, type Origin } from '../helpers/origins.js';
import { UDNS_BIN, expectCleanFailure, runCli, spawnCli, spawnOnTerminal, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { writeTokenFile } from '../helpers/token-file.js';
import { visit } from '../helpers/visitor.js';

/*
 * Finding 5 of the reliability review: a token given as `--token` is shown to every local user
 * by ps, and the first-start admin token went to stdout, i.e. into journald or a container log.
 * Issue 9 #2: a first start that failed on a taken port had already created the admin account,
 * so its token was never shown.
 */

const TOKEN_WARNING = 'udns: --token is visible to every user of this PC (ps, /proc); use --token-file <file>, UDNS_TOKEN or `udns login` instead\n';
const running: Array<CliProcess | ChildProcess> = [];
afterEach(async () => {
  for (const proc of running.splice(0)) {
    const child = 'child' in proc ? proc.child : proc;
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const gone = once(child, 'exit');
    // Processes under `script` run in their own group: end the whole group.
    if (child.spawnargs[0] === 'script') process.kill(-child.pid!, 'SIGTERM');
    else child.kill('SIGTERM');
    await gone;
  }
});

/** `udns login - --server <url>` with `input` written to its stdin. */
async function loginFromStdin(server: string, input: string, configFile: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [UDNS_BIN, 'login', '-', '--server', server], {
    env: { ...process.env, UDNS_CONFIG: configFile },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk; });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk; });
  child.stdin.end(input);
  const [code] = await once(child, 'exit') as [number | null];
  return { code, stdout, stderr };
}

/** On a pseudo-terminal, stopped after the test. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output(): string } {
  const run = spawnOnTerminal(args, env);
  running.push(run.child);
  return run;
}

function freshDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function serverArgs(dataDir: string, ports: { http?: number; dns?: number } = {}): string[] {
  return ['server', '--http-port', String(ports.http ?? 0), '--dns-port', String(ports.dns ?? 0), '--bind', '127.0.0.1',
    '--tcp-ports', '32000-32099', '--data-dir', dataDir, '--log-level', 'info'];
}

/** The address a banner's `udns login - --server <url> < <file>` line gives, on 127.0.0.1 (the edge binds only that). */
function loginLine(stdout: string): { server: string; file: string } {
  const [, server, file] = /udns login - --server (\S+) < (\S+)/.exec(stdout)!;
  return { server: server!.replace('localhost', '127.0.0.1'), file: file! };
}

describe('agent tokens out of ps', () => {
  let edge: TestEdge;
  let origin: Origin;
  const env = { UDNS_CONFIG: '/nonexistent/udns-test-config.json' };

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test.skipIf(process.platform !== 'linux')('with --token-file or UDNS_TOKEN the token is not in the agent\'s argv; with --token it is, and a warning says so', async () => {
    const ways = [
      { name: 'fromfile', args: ['--token-file', writeTokenFile(edge.adminToken)], env: {} },
      { name: 'fromenv', args: [], env: { UDNS_TOKEN: edge.adminToken } },
      { name: 'fromflag', args: ['--token', edge.adminToken], env: {} },
    ];
    for (const way of ways) {
      // --inspect=false: the inspector's stderr line would race the checks of stderr below.
      const agent = spawnCli(['http', String(origin.port), '--name', way.name, '--server', edge.serverUrl, '--inspect=false', ...way.args], { ...env, ...way.env });
      running.push(agent);
      await agent.waitForOutput(/ -> /);
      expect((await visit(edge, way.name, '/echo')).status).toBe(200);
      // What ps shows: the NUL-separated argv of the agent process.
      const argv = fs.readFileSync(`/proc/${agent.child.pid}/cmdline`, 'utf8');
      expect(argv).toContain(way.name);
      if (way.name === 'fromflag') {
        expect(argv).toContain(edge.adminToken);
        expect(agent.stderr()).toBe(TOKEN_WARNING);
      } else {
        expect(argv).not.toContain(edge.adminToken);
        expect(agent.stderr()).toBe('');
      }
    }
  });

  test.each(['0644', '0640', '0604'])('a token file of mode %s is refused with the fix, and the token is not shown', async (modeText) => {
    const file = writeTokenFile(edge.adminToken, parseInt(modeText, 8));
    // A closed port: were the file accepted, the command would fail at once on the connection.
    const result = await runCli(['http', String(origin.port), '--server', `http://127.0.0.1:${await closedPort()}`, '--token-file', file], env);
    expectCleanFailure(result, new RegExp(`^udns: --token-file ${file} is open to other users \\(mode ${modeText}\\): run \`chmod 600 ${file}\`$`), 2);
    expect(result.stderr).not.toContain(edge.adminToken);
  });

  test('--token and --token-file together are refused; a token file with two lines is refused without echoing it', async () => {
    const file = writeTokenFile(edge.adminToken);
    expectCleanFailure(await runCli(['name', 'ls', '--server', edge.serverUrl, '--token-file', file, '--token', 'udns_x'], env), /give --token or --token-file, not both/);
    const two = writeTokenFile(`${edge.adminToken}\nudns_another`);
    const result = await runCli(['name', 'ls', '--server', edge.serverUrl, '--token-file', two], env);
    expectCleanFailure(result, /holds more than one word: it should hold one token/);
    expect(result.stderr).not.toContain(edge.adminToken);
  });

  test('API commands take --token-file too', async () => {
    const result = await runCli(['status', '--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken)], env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('account  admin');
  });

  test('udns up warns when its config file holds a token and other users may read it', async () => {
    const dir = freshDir('udns-up-token-');
    const config = path.join(dir, 'agent.yml');
    fs.writeFileSync(config, `server: http://127.0.0.1:${await closedPort()}\ntoken: ${edge.adminToken}\nroutes:\n  - http: ${origin.port}\n`);
    fs.chmodSync(config, 0o644);
    const open = await runCli(['up', '--config', config], env);
    expect(open.stderr.split('\n')[0]).toBe(`udns: ${config} holds a token and is open to other users (mode 0644): run \`chmod 600 ${config}\`, or move the token to --token-file`);
    fs.chmodSync(config, 0o600);
    const closed = await runCli(['up', '--config', config], env);
    expect(closed.stderr).not.toContain('open to other users');
    expect(closed.stderr).toMatch(/cannot reach the server/);
  });

  test('udns login reads the token from stdin (-) or --token-file, so it need not be in argv', async () => {
    const dir = freshDir('udns-login-');
    const piped = await loginFromStdin(edge.serverUrl, `${edge.adminToken}\n`, path.join(dir, 'piped.json'));
    expect(piped).toMatchObject({ code: 0, stderr: '' });
    expect(piped.stdout).toContain('as admin');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'piped.json'), 'utf8')).token).toBe(edge.adminToken);

    const fromFile = await runCli(['login', '--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken)], { UDNS_CONFIG: path.join(dir, 'file.json') });
    expect(fromFile.stdout).toContain('as admin');

    // No token, no terminal to ask on: say how to give it.
    expectCleanFailure(await runCli(['login', '--server', edge.serverUrl], { UDNS_CONFIG: path.join(dir, 'none.json') }), /^udns: no token: give it as `udns login - < <file>` \(stdin\)/, 2);
    expect(fs.existsSync(path.join(dir, 'none.json'))).toBe(false);
  });

  test('udns login on a terminal asks for the token without echoing it', async () => {
    const dir = freshDir('udns-login-tty-');
    const config = path.join(dir, 'config.json');
    const login = onTerminal(['login', '--server', edge.serverUrl], { UDNS_CONFIG: config });
    // Typed only once the prompt (raw mode) is up: before that the terminal itself would echo.
    await eventually('the token prompt', () => (login.output().includes('token (not shown): ') ? true : undefined));
    login.child.stdin!.write(`${edge.adminToken}\r`);
    await once(login.child, 'exit');
    expect(login.output()).toContain('as admin');
    expect(login.output()).not.toContain(edge.adminToken.slice(5));
    expect(JSON.parse(fs.readFileSync(config, 'utf8')).token).toBe(edge.adminToken);
  });
});

describe('the first-start admin token', () => {
  test('with stdout not a terminal it is neither printed nor logged: it waits in a 0600 file, is named again on restart, and is deleted once used', async () => {
    const dataDir = freshDir('udns-admin-token-');
    const first = spawnCli(serverArgs(dataDir));
    running.push(first);
    await first.waitForOutput(/udns login - --server \S+ < \S+\n/, 30_000);
    const { file } = loginLine(first.stdout());
    expect(file).toBe(path.join(dataDir, 'admin-token'));
    expect(first.stdout()).toContain(`Its token is in ${file}, readable by this user only and deleted once used`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const token = fs.readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^udns_[A-Za-z0-9_-]{43}$/);
    await eventually('the creation log line', () => (first.stderr().includes('created the admin account') ? true : undefined));
    expect(first.stdout()).not.toContain(token);
    expect(first.stderr()).not.toContain(token);
    first.child.kill('SIGTERM');
    await first.exited;

    // Not used yet: the next start names the file again.
    const second = spawnCli(serverArgs(dataDir));
    running.push(second);
    await second.waitForOutput(/has not been used yet[^\n]*\n {2}udns login - --server \S+ < \S+\n/, 30_000);
    expect(second.stdout()).toContain(`The admin token in ${file} has not been used yet. Log in with:`);
    const login = await loginFromStdin(loginLine(second.stdout()).server, fs.readFileSync(file, 'utf8'), path.join(dataDir, 'client.json'));
    expect(login.stdout).toContain('as admin');
    await eventually('the token file deleted after its first use', () => (fs.existsSync(file) ? undefined : true));
  });

  test.skipIf(process.platform !== 'linux')('on a terminal the edge shows the token itself, and how to log in without putting it in argv', async () => {
    const dataDir = freshDir('udns-admin-tty-');
    const edge = onTerminal(serverArgs(dataDir));
    const shown = await eventually('the token on the terminal', () => /Its token:\r?\n {2}(udns_\S+)/.exec(edge.output())?.[1], { timeoutMs: 30_000 });
    const file = path.join(dataDir, 'admin-token');
    expect(fs.readFileSync(file, 'utf8')).toBe(`${shown}\n`);
    expect(edge.output()).toMatch(/Log in with `udns login --server http:\/\/localhost:\d+` and paste it when asked\./);
    expect(edge.output()).toContain(`Until then it also waits in ${file} (readable by this user only).`);
  });

  test.each(['http', 'dns'] as const)('a first start that fails on a taken %s port creates no account; the next start still hands the token over', async (taken) => {
    const dataDir = freshDir(`udns-taken-${taken}-`);
    let port: number;
    let release: () => Promise<void>;
    if (taken === 'http') {
      const holder = net.createServer().listen(0, '127.0.0.1');
      await once(holder, 'listening');
      port = (holder.address() as net.AddressInfo).port;
      release = () => new Promise((resolve) => holder.close(() => resolve()));
    } else {
      // DNS binds last, after HTTP: the case where the old edge had created the account already.
      const holder = dgram.createSocket('udp4');
      holder.bind(0, '127.0.0.1');
      await once(holder, 'listening');
      port = holder.address().port;
      release = () => new Promise((resolve) => holder.close(() => resolve()));
    }
    try {
      const failed = await runCli(serverArgs(dataDir, { [taken]: port }));
      expect(failed.code).not.toBe(0);
      expect(failed.stdout).not.toMatch(/udns_|First start/);
      expect(fs.existsSync(path.join(dataDir, 'admin-token'))).toBe(false);
    } finally {
      await release();
    }

    const retried = spawnCli(serverArgs(dataDir));
    running.push(retried);
    await retried.waitForOutput(/First start: created the account "admin"[^\n]*\n {2}udns login - --server \S+ < \S+\n/, 30_000);
    const { server, file } = loginLine(retried.stdout());
    const login = await loginFromStdin(server, fs.readFileSync(file, 'utf8'), path.join(dataDir, 'client.json'));
    expect(login.stdout).toContain('as admin');
  });
});
