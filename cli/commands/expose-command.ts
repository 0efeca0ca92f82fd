import type { Command } from 'commander';
import type { Agent, PublishedRoute, RouteSpec } from '../../agent/agent.js';
import { UdnsError, type SigningKeyPair } from '../../protocol/index.js';
import { failAndExit, say, warn } from '../cli-output.js';
import { loadAgentSettings } from '../agent-settings.js';
import { describeDirect } from '../edge-api.js';
import { lineFormatterFor, resolveLogFormat } from '../log-format.js';
import { endLogStream } from '../log-stream.js';
import { parseMetricsListen, parsePort, parseTransport, parseMux } from '../parse-args.js';
import { QR_FLAG_HELP, qrCodeLines, qrInColour } from '../qr-code.js';
import { inspectOption, withInspectFlags, type InspectFlags } from '../inspect-flags.js';
import { privateRouteSpec, withPrivateFlags, type PrivateFlags } from '../private-flags.js';
import { accessRouteSpec, withAccessFlags, type AccessFlags } from '../access-flags.js';

export interface AgentFlags extends InspectFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  insecure?: boolean;
  transport: 'raw' | 'ws';
  /** `--mux`: the tunnel's multiplexer (frames unless the edge does not have them). */
  mux?: 'frames' | 'http2';
  /** Print a QR code of each public URL once the routes are up (`--qr`). */
  qr?: boolean;
  logLevel: string;
  logFormat?: string;
  /** `udns share --transfer-port`: the port for direct and push transfers (default: any free one). */
  transferPort?: number;
  /** `udns share --no-transfers`: false keeps every download on the relay. */
  transfers?: boolean;
  /** `--metrics-listen host:port`: the agent's own Prometheus /metrics (agent/metrics/). */
  metricsListen?: string;
}

/** Adds the flags every agent command shares. */
export function withAgentFlags(command: Command): Command {
  return command
    .option('--server <url>', 'edge to connect to (default: from `udns login`)')
    .option('--token-file <file>', 'read the account token from this file (mode 0600; default: UDNS_TOKEN, else from `udns login`)')
    .option('--token <token>', 'account token; visible to every local user in ps: prefer --token-file or UDNS_TOKEN')
    .option('--ca <file>', 'PEM file of a private CA that signed the server\'s certificate')
    .option('--insecure', 'do not verify the server\'s certificate (the token may reach an impostor)')
    .option('--transport <raw|ws>', 'tunnel transport: raw upgrade (fastest) or WebSocket', parseTransport, 'raw')
    .option('--mux <frames|http2>', 'tunnel multiplexer: our frames (fastest; an older edge answers with http2) or http2', parseMux)
    .option('--log-level <level>', 'agent log detail on stderr (silent, info, debug)', 'silent')
    .option('--log-format <pretty|json>', 'short lines for people or JSON lines (default: pretty on a terminal, else json; UDNS_LOG_FORMAT)')
    .option('--metrics-listen <host:port>', 'the agent\'s own Prometheus /metrics on this address, no token (e.g. 127.0.0.1:9465)', parseMetricsListen);
}

/**
 * Runs the agent until Ctrl-C, printing `<public-url> -> <local target>` per route. `fallback`
 * is what the agent's config file says, below the flags and the environment, above the saved
 * login (see loadAgentSettings). Resolves
 * with the running agent once its routes are live (`udns up` adds and removes routes on it).
 */
export async function expose(routes: RouteSpec[], flags: AgentFlags, fallback: { server?: string; token?: string } = {}): Promise<Agent> {
  const edge = loadAgentSettings(flags, process.env, fallback);
  // Ours, so that stopping can end it before exiting (see endLogStream).
  const stderrIsTty = process.stderr.isTTY === true;
  const formatLine = lineFormatterFor(resolveLogFormat(flags.logFormat, process.env, stderrIsTty), process.env, stderrIsTty);
  // Loaded here: the agent (HTTP/2, shares, WebDAV) would slow every other command's start-up.
  const [{ createAgentLogger }, { startAgent }] = await Promise.all([import('../../agent/agent-logger.js'), import('../../agent/agent.js')]);
  const logger = createAgentLogger(flags.logLevel, { formatLine });
  const signingKey = routes.some((route) => route.kind === 'share' && (route.prices?.length ?? 0) > 0) ? await sellerKey(edge) : null;
  const agent = await startAgent({
    serverUrl: edge.server, token: edge.token, transport: edge.transport, routes, logLevel: flags.logLevel,
    ca: edge.trust.ca, insecure: edge.trust.insecure, indexCacheFile: edge.indexCacheFile,
    ...(flags.transferPort === undefined ? {} : { transferPort: flags.transferPort }), noTransfers: flags.transfers === false,
    ...(flags.mux === undefined ? {} : { mux: flags.mux }),
    signingKey, inspect: inspectOption(flags), ...(flags.metricsListen === undefined ? {} : { metricsListen: flags.metricsListen }),
  }, logger);
  const lines = (routes: PublishedRoute[]): string[] => routes.map((route) => `${route.url} -> ${route.target}`);
  let printed = lines(agent.routes);
  for (const line of printed) say(line);
  // Once, on stderr: stdout stays the public URLs (scripts read them).
  if (agent.inspector?.url) warn(`inspector: ${agent.inspector.url}`);
  agent.on('inspecting', (url: string) => warn(`inspector: ${url}`));
  if (agent.metricsListener !== null) warn(`metrics: http://${flags.metricsListen!.replace(/:\d+$/, '')}:${agent.metricsListener.port}/metrics`);
  if (flags.qr) for (const route of agent.routes) for (const line of qrCodeLines(route.url, { colour: qrInColour(process.stdout) })) say(line);

  // One line per new reason, not per try: while the edge is down the agent tries every second.
  let offlineReason: string | null = null;
  agent.on('offline', (reason: string, delayMs: number) => {
    if (reason === offlineReason) return;
    offlineReason = reason;
    warn(`${reason}; reconnecting in ${(delayMs / 1000).toFixed(1)}s`);
  });
  agent.on('online', (_account: string, routes: PublishedRoute[]) => {
    offlineReason = null;
    warn('reconnected');
    // A route can come back elsewhere (another TCP port): say so where the URLs were printed.
    const now = lines(routes);
    if (now.join('\n') !== printed.join('\n')) {
      for (const line of now) say(line);
      printed = now;
    }
  });
  // One stderr line per change of a route's direct state (the edge reports changes only).
  const directStates = new Map<unknown, string>();
  agent.on('direct', (route: { target: string }, checked: { reachable: boolean; address: string; port: number; reason?: string }) => {
    const line = describeDirect(checked);
    if (directStates.get(route) === line) return;
    directStates.set(route, line);
    warn(line);
  });
  // The transfer port of the shares, as the edge's probe found it (changes only).
  // (On the agent, not agent.transfers: `udns up` may open the port later, with its first share.)
  agent.on('transferChecked', (checked: { reachable: boolean; address: string; port: number; reason?: string }) => {
    warn(checked.reachable
      ? `transfers: direct reachable at ${checked.address}:${checked.port}`
      : `transfers: not reachable from outside (${checked.reason ?? 'unreachable'} on ${checked.address}:${checked.port}); members download by push or through the edge`);
  });
  // Once per share, not on every reconnect.
  const listedShares = new Set<string>();
  agent.on('indexListed', (target: string, files: number, hashing: number) => {
    if (listedShares.has(target)) return;
    listedShares.add(target);
    warn(`${target}: ${files.toLocaleString('en')} ${files === 1 ? 'file' : 'files'} listed in the members' search${hashing > 0 ? ` (SHA-256 of ${hashing.toLocaleString('en')} still being computed in the background)` : ''}`);
  });
  // Once per share: the share still answers visitors, it is only not searchable.
  agent.on('indexRefused', (target: string, error: UdnsError) => warn(`${target} is not listed in the members' search: ${error.message}`));
  agent.on('routeClosed', (route: { target: string }, error: UdnsError) => warn(`route to ${route.target} closed: ${error.message}`));
  // The local app refusing visitors: they see a 502 page; the person running the agent sees this.
  agent.on('localService', (line: string) => warn(line));
  agent.on('fatal', (error: UdnsError) => failAndExit(error));
  const shutdown = (): void => {
    agent.stop();
    void endLogStream(logger).then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return agent;
}

/**
 * The member's signing key for a share with prices (offers are signed with it): made and
 * registered at the edge when that has not happened yet. An edge that cannot take the key is a
 * warning, not a refusal: the share still lists prices and answers 402, its sales are refused
 * by the edge until the key is registered.
 */
async function sellerKey(edge: { server: string; token: string; trust: { ca?: string; insecure: boolean } }): Promise<SigningKeyPair> {
  const { ensureSigningKey, loadOrCreateSigningKey } = await import('../signing-key.js');
  try {
    const { pair, created } = await ensureSigningKey(process.env, edge);
    if (created) warn(`made your signing key (it signs your offers): key id ${pair.keyId}`);
    return pair;
  } catch (error) {
    if (error instanceof UdnsError && error.code === 'config_invalid') throw error;
    warn(`your signing key could not be registered with the edge (${(error as Error).message}); buyers cannot buy until it is: run \`udns login\``);
    return loadOrCreateSigningKey(process.env).pair;
  }
}

/** `udns http <port>` and `udns tcp <port>`. */
export function registerExposeCommands(program: Command): void {
  withAgentFlags(withPrivateFlags(withAccessFlags(
    withInspectFlags(program.command('http'))
      .description('expose a local HTTP server (WebSockets included) under a name')
      .argument('<port>', 'local port of the web server', parsePort)
      .option('--name <name>', 'name to publish under (default: a random readable one)')
      .option('--qr', QR_FLAG_HELP)
      .option('--local-host <host>', 'host the local server listens on', '127.0.0.1')
      .option('--direct-port <port>', 'also serve visitors on this port of the PC; DNS points at the PC while the edge can reach it', parsePort),
  'http'))).action(async (port: number, flags: AgentFlags & PrivateFlags & AccessFlags & { name?: string; localHost: string; directPort?: number }) => {
    await expose([{ kind: 'http', localPort: port, localHost: flags.localHost, name: flags.name, directPort: flags.directPort, ...privateRouteSpec(flags), ...accessRouteSpec(flags, 'http') }], flags);
  });

  withAgentFlags(withPrivateFlags(withAccessFlags(
    program.command('tcp')
      .description('expose a local TCP service (ssh, a database, a game server) on a public port')
      .argument('<port>', 'local TCP port', parsePort)
      .option('--qr', QR_FLAG_HELP)
      .option('--local-host <host>', 'host the local service listens on', '127.0.0.1')
      .option('--name <name>', 'with --private: the name members connect to (default: a random readable one)'),
  'tcp'))).action(async (port: number, flags: AgentFlags & PrivateFlags & AccessFlags & { localHost: string; name?: string }) => {
    if (flags.name !== undefined && !flags.private) throw new UdnsError('config_invalid', 'a public tcp route has no name (its address is a port): drop --name, or add --private');
    await expose([{ kind: 'tcp', localPort: port, localHost: flags.localHost, ...(flags.name === undefined ? {} : { name: flags.name }), ...privateRouteSpec(flags), ...accessRouteSpec(flags, 'tcp') }], flags);
  });
}
