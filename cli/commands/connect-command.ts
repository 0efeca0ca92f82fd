import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Command } from 'commander';
import { UdnsError, validateName } from '../../protocol/index.js';
import { CONNECT_OWNER_HEADER, CONNECT_PATH, CONNECT_UPGRADE_PROTOCOL, PrivateRouteView } from '../../protocol/private-route.js';
import { failAndExit, say, warn } from '../cli-output.js';
import { resolveCredentials, type CredentialFlags, type EdgeTarget } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { parsePort, withApiFlags } from '../parse-args.js';

/** How long one connection's upgrade at the edge may take before the local connection is dropped. */
const UPGRADE_TIMEOUT_MS = 10_000;
const MAX_REFUSAL_BYTES = 4096;

/**
 * `udns connect <name>`: a local listener for a private route (`udns http|tcp --private`). Each
 * local connection opens its own connection to the edge (`GET /api/v1/connect/<name>`, the
 * member's token in `Authorization`, `Upgrade: udns-connect`); after the 101 both carry raw
 * bytes. A connection the edge refuses (owner gone offline, token revoked, limits) is one stderr
 * line and a closed local connection; the listener keeps running until Ctrl-C.
 */
export function registerConnectCommand(program: Command): void {
  withApiFlags(program.command('connect')
    .description('reach a private route (udns http|tcp --private) through a local port')
    .argument('<name>', 'the private route\'s name, as its owner\'s `udns http --private` printed it')
    .option('--port <port>', 'local port to listen on (default: a free one, printed)', parsePort)
    .option('--local-host <host>', 'local address to listen on', '127.0.0.1')
    .option('--ca <file>', 'PEM file of a private CA that signed the server\'s certificate')
    .option('--insecure', 'do not verify the server\'s certificate (the token may reach an impostor)'))
    .action(async (input: string, flags: CredentialFlags & { port?: number; localHost: string }) => {
      const name = validateName(input);
      const edge = resolveCredentials(flags);
      // Before listening: an unknown name (or one not shared with this member) is one line and exit 1.
      const answer = PrivateRouteView.safeParse(await callEdge<unknown>(edge, 'GET', `${CONNECT_PATH}/${encodeURIComponent(name)}`));
      if (!answer.success) throw new UdnsError('server_unreachable', `the server at ${new URL(edge.server).origin} does not answer like a udns edge with private routes: update it`);
      const view = answer.data;
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (local) => relay(local, edge, name, view.owner));
      const port = await listen(server, flags.port ?? 0, flags.localHost);
      const host = flags.localHost.includes(':') ? `[${flags.localHost}]` : flags.localHost;
      const local = view.kind === 'http' ? `http://${host}:${port}` : `${host}:${port}`;
      say(`${local} -> ${view.name} (private ${view.kind} route of ${view.owner})`);
      server.on('error', (error) => failAndExit(new UdnsError('internal', `the local listener failed: ${error.message}`)));
      const stop = (): void => {
        server.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

/** Listens, turning a taken or forbidden port into one clear error. */
function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      if (error.code === 'EADDRINUSE') reject(new UdnsError('port_unavailable', `${where} is already in use: pick another --port, or leave it out for a free one`));
      else if (error.code === 'EACCES') reject(new UdnsError('port_unavailable', `${where} needs privileges: pick a --port above 1023`));
      else reject(new UdnsError('config_invalid', `cannot listen on ${where} (${error.code ?? error.message}): check --local-host`));
    });
    server.listen({ port, host, exclusive: true }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Joins one local connection to a new upgraded connection to the edge. */
function relay(local: net.Socket, edge: EdgeTarget, name: string, owner: string): void {
  const from = `${local.remoteAddress ?? '?'}:${local.remotePort ?? 0}`;
  let done = false;
  const fail = (line: string): void => {
    if (done) return;
    done = true;
    warn(`connection from ${from} to ${name}: ${line}`);
    local.destroy();
  };
  // A local client resetting its connection is everyday noise: the edge side goes with it.
  local.on('error', () => local.destroy());
  const url = new URL(`${CONNECT_PATH}/${encodeURIComponent(name)}`, edge.server);
  const secure = url.protocol === 'https:';
  const req = (secure ? https : http).request(url, {
    method: 'GET',
    agent: false,
    headers: { Authorization: `Bearer ${edge.token}`, Connection: 'Upgrade', Upgrade: CONNECT_UPGRADE_PROTOCOL, [CONNECT_OWNER_HEADER]: owner },
    ...(secure ? { ca: edge.trust.ca, rejectUnauthorized: !edge.trust.insecure } : {}),
  });
  const timer = setTimeout(() => {
    req.destroy();
    fail('the edge did not answer in time');
  }, UPGRADE_TIMEOUT_MS);
  local.once('close', () => {
    clearTimeout(timer);
    if (!done) {
      done = true;
      req.destroy();
    }
  });
  req.on('error', (error: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    fail(`cannot reach the edge at ${url.origin} (${error.code ?? error.message})`);
  });
  req.on('response', (res) => {
    clearTimeout(timer);
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REFUSAL_BYTES) chunks.push(chunk);
    });
    res.on('end', () => fail(refusalLine(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
    res.on('error', () => fail(`the edge answered ${res.statusCode ?? 0} and broke off`));
  });
  req.on('upgrade', (_res, remote: net.Socket, head: Buffer) => {
    clearTimeout(timer);
    if (done) {
      remote.destroy();
      return;
    }
    done = true;
    remote.setNoDelay(true);
    remote.on('error', () => local.destroy());
    if (head.length > 0) local.write(head);
    remote.pipe(local);
    local.pipe(remote);
    // One side gone for good (not just half-closed): the other goes too.
    remote.once('close', () => local.destroy());
    local.once('close', () => remote.destroy());
    local.resume();
  });
  req.end();
}

/** One line for the edge's refusal of a connection: its own message when it sent one. */
function refusalLine(status: number, text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') return message.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300);
  } catch {
    // Not the edge's JSON: said below.
  }
  return `the server answered ${status}: is it a udns edge?`;
}
