import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { expectCleanFailure, runCli, spawnCli, startTestAgent, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/** An origin that counts what reached it: the proof that refused callers got nowhere. */
async function countingHttpOrigin(): Promise<{ port: number; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function countingTcpEcho(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** GET `path` on a local connector port, as curl or a browser would (Host: 127.0.0.1:<port>). */
function get(port: number, path: string, agent?: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Writes `payload`, half-closes, and returns what came back before the other side ended. */
function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => { socket.end(); resolve(Buffer.concat(chunks)); });
    socket.on('error', reject);
    socket.end(payload);
  });
}

/** A connect upgrade sent by hand (no CLI): the edge's answer status and body, or 101. */
function rawConnect(edge: TestEdge, name: string, token: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: edge.edge.httpPort, path: `/api/v1/connect/${name}`, agent: false,
      headers: { Connection: 'Upgrade', Upgrade: 'udns-connect', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
    });
    req.on('upgrade', (_res, socket: net.Socket) => {
      socket.destroy();
      resolve({ status: 101, body: '' });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A free local port (listened on and closed again). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function portOf(cli: CliProcess): number {
  const match = /127\.0\.0\.1:(\d+) -> /.exec(cli.stdout());
  if (match === null) throw new Error(`no listener line in: ${cli.stdout()}`);
  return Number(match[1]);
}

/*
 * Private routes against the real edge, agents and CLI (dist/: run `npx tsc -p tsconfig.build.json`
 * first): alice runs `udns http --private --allow-member bob` and a private tcp route from a
 * `udns up` config; bob reaches both with `udns connect`; carol and callers without a token get a
 * clear refusal and the origins see nothing; nothing about the routes is public.
 */
describe('private routes', () => {
  let edge: TestEdge;
  let web: Awaited<ReturnType<typeof countingHttpOrigin>>;
  let echo: Awaited<ReturnType<typeof countingTcpEcho>>;
  let folder: string;
  let tokens: Record<'alice' | 'bob' | 'carol', string>;
  const env = (who: 'alice' | 'bob' | 'carol'): NodeJS.ProcessEnv => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: tokens[who] });
  let owner: CliProcess;
  let ownerTcp: CliProcess;
  const connectors: CliProcess[] = [];
  const connect = async (who: 'alice' | 'bob' | 'carol', args: string[]): Promise<CliProcess> => {
    const cli = spawnCli(['connect', ...args], env(who));
    connectors.push(cli);
    await cli.waitForOutput(/ -> /);
    return cli;
  };

  beforeAll(async () => {
    edge = await startTestEdge();
    web = await countingHttpOrigin();
    echo = await countingTcpEcho();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-private-'));
    tokens = { alice: await edge.createAccount('alice'), bob: await edge.createAccount('bob'), carol: await edge.createAccount('carol') };
    owner = spawnCli(['http', String(web.port), '--name', 'nas', '--private', '--allow-member', 'bob'], env('alice'));
    const config = path.join(folder, 'udns.yml');
    fs.writeFileSync(config, `routes:\n  - tcp: ${echo.port}\n    name: db\n    private: true\n    allowMembers: [Bob]\n`);
    ownerTcp = spawnCli(['up', '--config', config], env('alice'));
    await Promise.all([owner.waitForOutput(/-> http:/), ownerTcp.waitForOutput(/-> 127\.0\.0\.1:/)]);
  });
  afterAll(async () => {
    for (const cli of [...connectors, owner, ownerTcp]) cli?.child.kill('SIGTERM');
    await Promise.all([...connectors, owner, ownerTcp].map((cli) => cli?.exited));
    await web?.close();
    await echo?.close();
    await edge?.close();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  test('udns http --private prints how members connect instead of a URL', () => {
    expect(owner.stdout()).toBe(`private: udns connect nas -> http://127.0.0.1:${web.port}\n`);
    expect(ownerTcp.stdout()).toContain(`private: udns connect db -> 127.0.0.1:${echo.port}`);
  });

  test('bob reaches the private http route through udns connect --port, with curl\'s Host, kept alive, and his network in X-Forwarded-For', async () => {
    const port = await freePort();
    const cli = await connect('bob', ['nas', '--port', String(port)]);
    expect(cli.stdout()).toBe(`http://127.0.0.1:${port} -> nas (private http route of alice)\n`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const path of ['/first', '/second']) {
        const answer = await get(port, path, agent);
        expect(answer.status).toBe(200);
        const seen = JSON.parse(answer.body) as { url: string; headers: Record<string, string> };
        expect(seen.url).toBe(path);
        expect(seen.headers.host).toBe(`127.0.0.1:${port}`);
        expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
      }
    } finally {
      agent.destroy();
    }
    // Who connected, for the owner's records.
    expect(edge.logs()).toMatch(/"name":"nas","member":"bob".*"owner":"alice".*"msg":"private connection"/);
  });

  test('bob reaches the private tcp route on a free port the connector prints; bytes and half-close pass', async () => {
    const cli = await connect('bob', ['db']);
    expect(cli.stdout()).toMatch(/^127\.0\.0\.1:\d+ -> db \(private tcp route of alice\)\n$/);
    const payload = Buffer.from('private bytes\n'.repeat(5000));
    expect((await echoThrough(portOf(cli), payload)).equals(payload)).toBe(true);
  });

  test('the owner may always connect to her own route', async () => {
    expect((await rawConnect(edge, 'nas', tokens.alice)).status).toBe(101);
  });

  test('carol (not allowed) and a caller without a token are refused, with the answer an unknown name gets, and the origins see nothing', async () => {
    const before = { web: web.requests(), echo: echo.connections() };
    const carol = await runCli(['connect', 'nas'], env('carol'));
    expectCleanFailure(carol, /^udns: no private route "nas" is online for you: check the name; its owner must be connected and allow you/);
    const unknown = await runCli(['connect', 'no-such-route'], env('bob'));
    expectCleanFailure(unknown, /^udns: no private route "no-such-route" is online for you/);
    // The edge's own answers, without the CLI's check first.
    const carolRaw = await rawConnect(edge, 'db', tokens.carol);
    expect(carolRaw.status).toBe(404);
    const message = (answer: { body: string }): string => (JSON.parse(answer.body) as { error: { message: string } }).error.message;
    expect(message(carolRaw).replace('"db"', '"x"')).toBe(message(await rawConnect(edge, 'x', tokens.carol)));
    const anonymous = await rawConnect(edge, 'nas', null);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body).error.message).toMatch(/missing token/);
    const noToken = await runCli(['connect', 'nas'], { UDNS_SERVER: edge.serverUrl });
    expectCleanFailure(noToken, /^udns: no token/);
    expect({ web: web.requests(), echo: echo.connections() }).toEqual(before);
    expect(edge.logs()).toMatch(/"member":"carol","name":"db".*"msg":"private connection refused"/);
  });

  test('nothing is public: no Host routing, no DNS name, no tcp port', async () => {
    const before = web.requests();
    const page = await visit(edge, 'nas', '/');
    expect(page.status).toBe(404);
    expect(web.requests()).toBe(before);
    const resolver = new Resolver();
    resolver.setServers([`127.0.0.1:${edge.edge.dnsUdpPort}`]);
    await expect(resolver.resolve4('nas.localhost')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const me = await fetch(`${edge.serverUrl}/api/v1/me`, { headers: { authorization: `Bearer ${tokens.alice}` } }).then((res) => res.json()) as { tunnels: Array<{ routes: Array<{ url: string; port?: number }> }> };
    const routes = me.tunnels.flatMap((tunnel) => tunnel.routes);
    expect(routes.map((route) => route.url).sort()).toEqual(['private: udns connect db', 'private: udns connect nas']);
    expect(routes.every((route) => route.port === undefined)).toBe(true);
  });

  test('another account cannot take a live private name', async () => {
    await expect(startTestAgent(edge, [{ kind: 'http', localPort: web.port, name: 'nas', private: { allowMembers: ['carol'] } }], { token: tokens.carol }))
      .rejects.toMatchObject({ code: 'name_taken' });
  });

  test('bad input is one line and a non-zero exit', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const [badPort, badName, portTaken, membersOnPublic, badMember] = await Promise.all([
        runCli(['connect', 'nas', '--port', '70000'], env('bob')),
        runCli(['connect', 'not a name'], env('bob')),
        runCli(['connect', 'nas', '--port', String(port)], env('bob')),
        runCli(['http', String(web.port), '--allow-member', 'bob'], env('alice')),
        runCli(['tcp', String(echo.port), '--private', '--allow-member', 'Not_An_Account'], env('alice')),
      ]);
      expectCleanFailure(badPort, /port must be a number from 1 to 65535, got "70000"/);
      expectCleanFailure(badName, /invalid name "not a name"/);
      expectCleanFailure(portTaken, new RegExp(`127\\.0\\.0\\.1:${port} is already in use: pick another --port`));
      expectCleanFailure(membersOnPublic, /--allow-member needs --private/);
      expectCleanFailure(badMember, /"Not_An_Account" is not an account name/);
    } finally {
      taken.close();
    }
  });

  test('udns up replaces a private route whose allowMembers changed: carol gets in once the file names her', async () => {
    expect((await rawConnect(edge, 'db', tokens.carol)).status).toBe(404);
    fs.writeFileSync(path.join(folder, 'udns.yml'), `routes:\n  - tcp: ${echo.port}\n    name: db\n    private: true\n    allowMembers: [bob, carol]\n`);
    await eventually('carol to be allowed on db', async () => ((await rawConnect(edge, 'db', tokens.carol)).status === 101 ? true : undefined));
  });

  // Last: the owner goes away.
  test('the owner going offline: each new connection gets one clear line, the connector keeps running', async () => {
    const cli = await connect('bob', ['nas']);
    const port = portOf(cli);
    expect((await get(port, '/before')).status).toBe(200);
    owner.child.kill('SIGTERM');
    await owner.exited;
    await eventually('the edge to drop the route', async () => ((await rawConnect(edge, 'nas', tokens.bob)).status === 404 ? true : undefined));
    for (let i = 0; i < 2; i++) await expect(get(port, '/after')).rejects.toThrow();
    await eventually('two refusal lines', () => (cli.stderr().match(/no private route "nas" is online for you/g)?.length === 2 ? true : undefined));
    expect(cli.stderr()).toMatch(/^udns: connection from 127\.0\.0\.1:\d+ to nas: no private route "nas" is online for you/);
    expect(cli.child.exitCode).toBeNull();

    // Carol takes the free name for herself and allows bob: bob's running connector (started
    // for alice's nas) must not hand his traffic to carol's PC.
    const impostor = await countingHttpOrigin();
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: impostor.port, name: 'nas', private: { allowMembers: ['bob'] } }], { token: tokens.carol });
    try {
      expect((await rawConnect(edge, 'nas', tokens.bob)).status).toBe(101);
      await expect(get(port, '/to-carol')).rejects.toThrow();
      await eventually('a third refusal line', () => (cli.stderr().match(/no private route "nas" is online for you/g)?.length === 3 ? true : undefined));
      expect(impostor.requests()).toBe(0);
    } finally {
      agent.stop();
      await impostor.close();
    }
  });
});
