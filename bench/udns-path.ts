import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_FLAGS } from '../cli/service/node-flags.js';
import { startFarLink, type FarLink } from './far-link.js';
import { freePort, type ManagedProcess, type ProcessGroup } from './processes.js';

/** The name the benchmark publishes the origin under. */
const NAME = 'bench';
/** Edge start includes opening (and on first start migrating) its SQLite database. */
const EDGE_START_TIMEOUT_MS = 60_000;
const AGENT_START_TIMEOUT_MS = 30_000;

/** How to run one udns path. */
export interface UdnsPathOptions {
  /** What the agent publishes: a local origin (`udns http <port>`) or a folder (`udns share <dir>`). */
  publish: { originPort: number } | { shareDir: string };
  transport: 'raw' | 'ws';
  /** Scratch directory; the edge's data dir is created inside it. */
  workDir: string;
  /** When set, edge and agent run under `--cpu-prof` and write their profiles here. */
  profileDir?: string;
  /**
   * When set, the agent reaches the edge through a delay proxy adding this many ms each way
   * (a far agent); visitors still reach the edge directly.
   */
  tunnelDelayMs?: number;
  /** `udns http`'s request inspector (on by default for people): off here unless true, so the other paths measure the bare route. */
  inspect?: boolean;
  /** More `udns server` flags (the access log of the `observe` comparison). */
  edgeArgs?: string[];
  /** More `udns http` flags (the `udns-auth` path's `--basic-auth`), and a label for its processes and profiles. */
  agentArgs?: { args: string[]; label: string };
}

/** A live edge + agent pair publishing the origin (or folder) as `bench.localhost:<port>`. */
export interface UdnsPath {
  /** The edge's HTTP port on 127.0.0.1, where visitors connect. */
  port: number;
  /** Host header that routes a visitor to the origin through the tunnel. */
  host: string;
  edge: ManagedProcess;
  agent: ManagedProcess;
  /** Stops agent then edge (gracefully, so `--cpu-prof` profiles get written). */
  stop(): Promise<void>;
}

/** bin/udns.js of this checkout, found from dist/bench/ (compiled) or bench/ (sources). */
function udnsBin(): string {
  for (const relative of ['../../bin/udns.js', '../bin/udns.js']) {
    const candidate = fileURLToPath(new URL(relative, import.meta.url));
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('bin/udns.js not found next to the benchmark: run it from a udns checkout');
}

/**
 * Node flags for a child: those a service unit runs udns with (cli/service/node-flags.ts), and
 * `--cpu-prof`, which cannot go through NODE_OPTIONS.
 */
function nodeFlags(profileDir: string | undefined, label: string): string[] {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}.cpuprofile`] : [];
  return [...SERVICE_NODE_FLAGS, ...profile];
}

/**
 * Starts a real edge (`udns server`, fresh data dir) and a real agent (`udns http` or
 * `udns share`) as separate processes, waits until the agent prints its public URL, and returns
 * the visitor address. Everything listens on 127.0.0.1.
 */
export async function startUdnsPath(group: ProcessGroup, options: UdnsPathOptions): Promise<UdnsPath> {
  const bin = udnsBin();
  const httpPort = await freePort();
  const dnsPort = await freePort();
  const kind = 'shareDir' in options.publish ? 'share' : 'udns';
  const far = options.tunnelDelayMs !== undefined;
  const label = `${kind}-${options.transport}${far ? '-far' : ''}${options.inspect ? '-inspect' : ''}${options.agentArgs ? `-${options.agentArgs.label}` : ''}`;
  const dataDir = fs.mkdtempSync(path.join(options.workDir, `edge-${label}-`));
  const route = 'shareDir' in options.publish ? ['share', options.publish.shareDir] : ['http', String(options.publish.originPort)];

  const edge = group.start(`edge (${label})`, process.execPath, [
    ...nodeFlags(options.profileDir, `edge-${label}`),
    bin, 'server',
    '--http-port', String(httpPort),
    '--dns-port', String(dnsPort),
    '--data-dir', dataDir,
    '--bind', '127.0.0.1',
    ...(options.edgeArgs ?? []),
  ]);
  // Not a terminal: the edge names the admin token's file instead of printing the token.
  await edge.waitForLine(/udns login - --server /, EDGE_START_TIMEOUT_MS);
  const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();

  let link: FarLink | undefined;
  if (far) link = await startFarLink(group, { targetPort: httpPort, oneWayDelayMs: options.tunnelDelayMs!, name: 'delay proxy' });
  const agent = group.start(`agent (${label})`, process.execPath, [
    ...nodeFlags(options.profileDir, `agent-${label}`),
    bin, ...route,
    '--name', NAME,
    '--server', `http://127.0.0.1:${link?.port ?? httpPort}`,
    '--transport', options.transport,
    ...(kind === 'udns' ? (options.inspect ? ['--inspect-port', '0'] : ['--inspect=false']) : []),
    ...(options.agentArgs?.args ?? []),
  ], { env: { ...process.env, UDNS_TOKEN: token } });
  await agent.waitForLine(new RegExp(`^http://${NAME}\\.localhost:${httpPort} -> `), AGENT_START_TIMEOUT_MS);

  return {
    port: httpPort,
    host: `${NAME}.localhost:${httpPort}`,
    edge,
    agent,
    async stop() {
      // Generous grace: a profiled process writes its .cpuprofile while exiting.
      const graceMs = options.profileDir ? 20_000 : 5000;
      await agent.stop(graceMs);
      await edge.stop(graceMs);
      await link?.stop();
    },
  };
}
