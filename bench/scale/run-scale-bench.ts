/*
 * `npm run bench:scale`: scale on one edge (issue 12), with figures and PASS/FAIL lines.
 *
 * 1. WebSockets: a WebSocket echo origin behind one real agent (`udns http`); a visitor process
 *    opens UDNS_SCALE_WEBSOCKETS (10,000) WebSockets to the edge in batches of 500, from
 *    UDNS_SCALE_SOURCES (40) loopback addresses, and echoes a message on every one of them
 *    twice. Edge and agent memory (RSS and heap after a GC, and peak RSS) before and while
 *    they are open, per WebSocket, against the goal of ≤ 400 MB RSS each.
 * 2. Churn, on the same edge and agent: UDNS_SCALE_STREAMS (100,000) short HTTP requests, each
 *    on a new connection (so a new visitor stream), 64 at a time, in UDNS_SCALE_WAVES (4) waves
 *    after a warm-up of 12,000 (CHURN_WARM_UP): memory after a GC before and after each wave (the heap must be
 *    back where it was), and edge and agent CPU µs per request.
 * 3. Fleet: a fresh edge, and UDNS_SCALE_AGENTS (1,000) light agents in one process on the
 *    real protocol module (agent-fleet.ts), each registering one http route: edge RSS per
 *    agent, against the goal of ≤ 150 KB.
 *
 * UDNS_SCALE_PARTS (`websockets,churn,fleet`) picks the parts. Every child runs with
 * `ulimit -n 65536` (see scale-processes.ts). Writes JSON to bench/results/scale-<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessGroup, type ManagedProcess } from '../processes.js';
import { measureCpu } from '../proc-stats.js';
import {
  FILE_DESCRIPTORS,
  probeMemory,
  sibling,
  startNode,
  startScaleAgent,
  startScaleEdge,
  waitForEvent,
  type MemorySample,
  type ScaleEdge,
} from './scale-processes.js';
import type { AgentFleetOptions } from './agent-fleet.js';
import type { VisitorClientOptions } from './visitor-client.js';
import { envInt } from '../env-int.js';

const WEBSOCKETS = envInt('UDNS_SCALE_WEBSOCKETS', 10_000);
const STREAMS = envInt('UDNS_SCALE_STREAMS', 100_000);
const AGENTS = envInt('UDNS_SCALE_AGENTS', 1_000);
const SOURCES = envInt('UDNS_SCALE_SOURCES', 40);
const WAVES = envInt('UDNS_SCALE_WAVES', 4);
const PARTS = new Set((process.env.UDNS_SCALE_PARTS ?? 'websockets,churn,fleet').split(',').map((part) => part.trim()));

const RSS_GOAL_BYTES = 400 * 1024 * 1024;
const PER_AGENT_GOAL_BYTES = 150 * 1024;
/** Heap after a GC may move this much over 100,000 streams and still count as "where it was". */
const CHURN_HEAP_SLACK_BYTES = 2 * 1024 * 1024;
const NAME = 'bench';
/** How long closed connections may linger (cancel fallback 10 s, half-open grace 5 s) before memory is read again. */
const SETTLE_MS = 12_000;
/**
 * Requests before the churn's first reading: past the edge's bounded caches of closed streams
 * (the transfer records keep the last 10,000 of a tunnel for the agent's reports), which
 * otherwise show as 4 MB of "growth" in the first wave and none after.
 */
const CHURN_WARM_UP = envInt('UDNS_SCALE_CHURN_WARM_UP', 12_000);

const progress = (message: string): void => void process.stderr.write(`bench:scale: ${message}\n`);
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
const lines: string[] = [];
const say = (line: string): void => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

function memoryLine(label: string, sample: MemorySample): string {
  return `${label.padEnd(34)} rss ${mb(sample.rss).padStart(9)}  heapUsed ${mb(sample.heapUsed).padStart(8)}  heapTotal ${mb(sample.heapTotal).padStart(8)}  external ${mb(sample.external).padStart(7)}  peak rss ${mb(sample.peakRss).padStart(9)}`;
}

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error('cannot find the udns checkout (package.json next to bench/)');
}

async function startOrigin(group: ProcessGroup): Promise<{ process: ManagedProcess; port: number }> {
  const origin = startNode(group, 'ws echo origin', [sibling('ws-echo-origin')]);
  const match = await origin.waitForLine(/^listening (\d+)$/, 30_000);
  return { process: origin, port: Number(match[1]) };
}

function startVisitors(group: ProcessGroup, name: string, options: VisitorClientOptions): ManagedProcess {
  return startNode(group, name, ['--max-old-space-size=2048', sibling('visitor-client'), JSON.stringify(options)]);
}

/** Part 1: returns the per-WebSocket figures for the limits. */
async function webSockets(group: ProcessGroup, edge: ScaleEdge, agent: ManagedProcess, results: Record<string, unknown>): Promise<void> {
  const host = `${NAME}.localhost:${edge.port}`;
  progress('warm-up: 500 WebSockets');
  const warm = startVisitors(group, 'warm-up visitors', { mode: 'ws', port: edge.port, host, sources: SOURCES, count: 500, batch: 250 });
  await waitForEvent(warm, 'opened', 60_000);
  warm.signal('SIGUSR1');
  await waitForEvent(warm, 'echoed', 60_000);
  await warm.stop();
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const edgeBefore = await probeMemory(edge.process);
  const agentBefore = await probeMemory(agent);
  progress(`opening ${WEBSOCKETS} WebSockets from ${SOURCES} source addresses`);
  const visitors = startVisitors(group, 'visitors', { mode: 'ws', port: edge.port, host, sources: SOURCES, count: WEBSOCKETS, batch: 500 });
  const opened = await waitForEvent<{ open: number; failures: Record<string, number>; seconds: number }>(visitors, 'opened', 300_000);
  progress(`opened ${opened.open} in ${opened.seconds} s${Object.keys(opened.failures).length ? ` (failed: ${JSON.stringify(opened.failures)})` : ''}; echoing`);
  const echoes: { echoed: number; of: number; lost: number; seconds: number }[] = [];
  for (let round = 0; round < 2; round++) {
    visitors.signal('SIGUSR1');
    echoes.push(await waitForEvent(visitors, 'echoed', 120_000, round));
  }
  const edgeHeld = await probeMemory(edge.process);
  const agentHeld = await probeMemory(agent);
  visitors.signal('SIGUSR2');
  await waitForEvent(visitors, 'closed', 60_000);
  await visitors.stop();
  // Past the edge's 10 s fallback for streams it asked the agent to cancel, and the 5 s grace
  // of a closed visitor: what is still held then is held for good.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const edgeAfter = await probeMemory(edge.process);
  const agentAfter = await probeMemory(agent);

  const open = Math.max(1, opened.open);
  const perStream = {
    edgeRss: (edgeHeld.rss - edgeBefore.rss) / open,
    edgeHeap: (edgeHeld.heapUsed - edgeBefore.heapUsed) / open,
    agentRss: (agentHeld.rss - agentBefore.rss) / open,
    agentHeap: (agentHeld.heapUsed - agentBefore.heapUsed) / open,
  };
  say(`## ${WEBSOCKETS.toLocaleString('en')} concurrent WebSockets through one tunnel`);
  say(`opened ${opened.open} in ${opened.seconds.toFixed(1)} s${Object.keys(opened.failures).length ? `, failed: ${JSON.stringify(opened.failures)}` : ''}; echo rounds: ${echoes.map((e) => `${e.echoed}/${e.of} in ${e.seconds.toFixed(1)} s`).join(', ')}; closed under them: ${echoes.at(-1)?.lost ?? 0}`);
  say(memoryLine('edge before', edgeBefore));
  say(memoryLine('edge with all open (after GC)', edgeHeld));
  say(memoryLine('edge 12 s after closing them', edgeAfter));
  say(memoryLine('agent before', agentBefore));
  say(memoryLine('agent with all open (after GC)', agentHeld));
  say(memoryLine('agent 12 s after closing them', agentAfter));
  say(`per open WebSocket: edge ${kb(perStream.edgeRss)} RSS (${kb(perStream.edgeHeap)} heap), agent ${kb(perStream.agentRss)} RSS (${kb(perStream.agentHeap)} heap)`);
  const allEchoed = echoes.every((e) => e.echoed === WEBSOCKETS);
  say(`${verdict(allEchoed)}: all ${WEBSOCKETS} WebSockets open and echoing`);
  say(`${verdict(edgeHeld.peakRss <= RSS_GOAL_BYTES)}: edge peak RSS ${mb(edgeHeld.peakRss)} ≤ ${mb(RSS_GOAL_BYTES)}`);
  say(`${verdict(agentHeld.peakRss <= RSS_GOAL_BYTES)}: agent peak RSS ${mb(agentHeld.peakRss)} ≤ ${mb(RSS_GOAL_BYTES)}`);
  results.websockets = { opened, echoes, edgeBefore, edgeHeld, edgeAfter, agentBefore, agentHeld, agentAfter, perStream, pass: allEchoed && edgeHeld.peakRss <= RSS_GOAL_BYTES && agentHeld.peakRss <= RSS_GOAL_BYTES };
}

async function churn(group: ProcessGroup, edge: ScaleEdge, agent: ManagedProcess, results: Record<string, unknown>): Promise<void> {
  const host = `${NAME}.localhost:${edge.port}`;
  const run = async (name: string, total: number): Promise<{ total: number; outcomes: Record<string, number>; seconds: number }> => {
    const visitors = startVisitors(group, name, { mode: 'churn', port: edge.port, host, sources: SOURCES, total, concurrency: 64 });
    const done = await waitForEvent<{ total: number; outcomes: Record<string, number>; seconds: number }>(visitors, 'churned', 3_600_000);
    await visitors.stop();
    return done;
  };
  progress(`churn warm-up: ${CHURN_WARM_UP} requests`);
  await run('churn warm-up', CHURN_WARM_UP);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const edgeBefore = await probeMemory(edge.process);
  const agentBefore = await probeMemory(agent);
  say(`## ${STREAMS.toLocaleString('en')} visitor streams opened and closed (short HTTP requests, each on a new connection, 64 at a time, in ${WAVES} waves)`);
  say(memoryLine('edge before', edgeBefore));
  say(memoryLine('agent before', agentBefore));
  const waves: unknown[] = [];
  let answered = 0;
  let sent = 0;
  let edgeAfter = edgeBefore;
  let agentAfter = agentBefore;
  for (let wave = 1; wave <= WAVES; wave++) {
    const size = Math.round((STREAMS * wave) / WAVES) - sent;
    progress(`churn wave ${wave}/${WAVES}: ${size} requests`);
    const { value: done, cpu } = await measureCpu([edge.process, agent], () => run(`churn wave ${wave}`, size));
    sent += size;
    answered += done.outcomes['HTTP/1.1 200'] ?? 0;
    // Closed connections linger a few seconds (the visitor grace, the cancel fallback): let them go.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    edgeAfter = await probeMemory(edge.process);
    agentAfter = await probeMemory(agent);
    const cpuMicros = (share: number | undefined): string => `${Math.round(((share ?? 0) * done.seconds * 1e6) / size)} µs`;
    say(`wave ${wave}: ${done.outcomes['HTTP/1.1 200'] ?? 0}/${size} answered 200 in ${done.seconds.toFixed(1)} s (${Math.round(size / done.seconds)}/s; CPU per request: edge ${cpuMicros(cpu[edge.process.name])}, agent ${cpuMicros(cpu[agent.name])})${Object.keys(done.outcomes).length > 1 ? ` ${JSON.stringify(done.outcomes)}` : ''}`);
    say(memoryLine(`  edge after ${sent.toLocaleString('en')}`, edgeAfter));
    say(memoryLine(`  agent after ${sent.toLocaleString('en')}`, agentAfter));
    waves.push({ wave, size, done, cpu, edge: edgeAfter, agent: agentAfter });
  }
  const edgeGrowth = edgeAfter.heapUsed - edgeBefore.heapUsed;
  const agentGrowth = agentAfter.heapUsed - agentBefore.heapUsed;
  say(`heap after GC moved: edge ${mb(edgeGrowth)} (${(edgeGrowth / STREAMS).toFixed(1)} B/stream), agent ${mb(agentGrowth)} (${(agentGrowth / STREAMS).toFixed(1)} B/stream); RSS: edge ${mb(edgeAfter.rss - edgeBefore.rss)}, agent ${mb(agentAfter.rss - agentBefore.rss)}`);
  const heapBack = edgeGrowth <= CHURN_HEAP_SLACK_BYTES && agentGrowth <= CHURN_HEAP_SLACK_BYTES;
  const first = waves[0] as { edge: MemorySample; agent: MemorySample } | undefined;
  if (first !== undefined && WAVES > 1) {
    say(`from the first wave's end to the last's: heap edge ${mb(edgeAfter.heapUsed - first.edge.heapUsed)}, agent ${mb(agentAfter.heapUsed - first.agent.heapUsed)}; RSS edge ${mb(edgeAfter.rss - first.edge.rss)}, agent ${mb(agentAfter.rss - first.agent.rss)}`);
  }
  say(`${verdict(answered === STREAMS)}: every request answered 200 (${answered}/${STREAMS})`);
  say(`${verdict(heapBack)}: heap after GC back where it was (within ${mb(CHURN_HEAP_SLACK_BYTES)}) at the edge and at the agent`);
  results.churn = { edgeBefore, agentBefore, waves, pass: answered === STREAMS && heapBack };
}

async function fleet(group: ProcessGroup, workDir: string, results: Record<string, unknown>): Promise<void> {
  const edge = await startScaleEdge(group, workDir, 'fleet');
  // A first small fleet warms the edge's code paths and database handle, as the WebSockets' warm-up does.
  const warmOptions: AgentFleetOptions = { serverUrl: edge.url, count: 20, batch: 20, prefix: 'warm' };
  const warm = startNode(group, 'fleet warm-up', [sibling('agent-fleet'), JSON.stringify(warmOptions)], { env: { ...process.env, UDNS_TOKEN: edge.token } });
  await waitForEvent(warm, 'connected', 60_000);
  await warm.stop();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = await probeMemory(edge.process);
  progress(`fleet: ${AGENTS} light agents`);
  const options: AgentFleetOptions = { serverUrl: edge.url, count: AGENTS, batch: 50, prefix: 'fleet' };
  const agents = startNode(group, 'agent fleet', ['--max-old-space-size=2048', sibling('agent-fleet'), JSON.stringify(options)], { env: { ...process.env, UDNS_TOKEN: edge.token } });
  const connected = await waitForEvent<{ agents: number; seconds: number; rss: number }>(agents, 'connected', 600_000);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const after = await probeMemory(edge.process);
  await agents.stop();
  await edge.process.stop();
  const perAgent = (after.rss - before.rss) / connected.agents;
  const perAgentHeap = (after.heapUsed - before.heapUsed) / connected.agents;
  say(`## ${AGENTS.toLocaleString('en')} connected idle agents on one edge`);
  say(`${connected.agents} agents connected and registered in ${connected.seconds.toFixed(1)} s (fleet process ${mb(connected.rss)})`);
  say(memoryLine('edge before', before));
  say(memoryLine('edge with the fleet (after GC)', after));
  say(`per agent: edge ${kb(perAgent)} RSS (${kb(perAgentHeap)} heap, ${kb((after.external - before.external) / connected.agents)} external)`);
  say(`${verdict(connected.agents === AGENTS && perAgent <= PER_AGENT_GOAL_BYTES)}: ${kb(perAgent)} edge RSS per idle agent ≤ ${kb(PER_AGENT_GOAL_BYTES)}`);
  results.fleet = { connected, before, after, perAgent, perAgentHeap, pass: connected.agents === AGENTS && perAgent <= PER_AGENT_GOAL_BYTES };
}

async function main(): Promise<void> {
  const group = new ProcessGroup();
  const cleanup = (): void => group.killAllNow();
  process.on('exit', cleanup);
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-bench-scale-'));
  const results: Record<string, unknown> = { startedAt: new Date().toISOString(), node: process.version, cpus: os.cpus().length, fileDescriptors: FILE_DESCRIPTORS };
  say(`# udns scale on one edge (${os.cpus().length} cores, Node ${process.version}; every child under ulimit -n ${FILE_DESCRIPTORS}; memory read after a GC)`);
  try {
    if (PARTS.has('websockets') || PARTS.has('churn')) {
      const origin = await startOrigin(group);
      const edge = await startScaleEdge(group, workDir, 'ws');
      const agent = await startScaleAgent(group, edge, origin.port, NAME);
      if (PARTS.has('websockets')) await webSockets(group, edge, agent, results);
      if (PARTS.has('churn')) await churn(group, edge, agent, results);
      await agent.stop();
      await edge.process.stop();
      await origin.process.stop();
    }
    if (PARTS.has('fleet')) await fleet(group, workDir, results);
  } finally {
    await group.stopAll();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const resultsDir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ ...results, report: lines }, null, 2)}\n`);
  progress(`results in ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:scale failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
