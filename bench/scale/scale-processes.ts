/*
 * Starting the peers of `npm run bench:scale` and reading their memory. Every Node child runs
 * under `bash -c 'ulimit -n 65536; exec node …'`: 10,000 visitors need more descriptors than the
 * usual 1,024 (raising the soft limit up to the hard one needs no privilege; as root the hard
 * one may be raised too). Edge and agent preload memory-probe.ts with --expose-gc: the bench
 * compares memory after a collection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, type ManagedProcess, type ProcessGroup } from '../processes.js';

export const FILE_DESCRIPTORS = 65_536;
const START_TIMEOUT_MS = 60_000;

/** bin/udns.js of this checkout, found from dist/bench/scale/ (compiled) or bench/scale/ (sources). */
function udnsBin(): string {
  for (const relative of ['../../../bin/udns.js', '../../bin/udns.js']) {
    const candidate = fileURLToPath(new URL(relative, import.meta.url));
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('bin/udns.js not found next to the benchmark: run it from a udns checkout');
}

/** A sibling module of this one (`agent-fleet`), as the .js Node runs. */
export function sibling(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/** Starts `node <args>` with the raised descriptor limit. */
export function startNode(group: ProcessGroup, name: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; keepStdin?: boolean } = {}): ManagedProcess {
  // `ulimit -n` as root raises soft and hard; otherwise fall back to the hard limit.
  const script = `ulimit -n ${FILE_DESCRIPTORS} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  return group.start(name, 'bash', ['-c', script, process.execPath, ...args], { env: options.env ?? process.env, keepStdin: options.keepStdin ?? true });
}

/** What a probed process reported after a collection. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Peak resident size since the process started (VmHWM). */
  peakRss: number;
}

const sequences = new WeakMap<ManagedProcess, number>();

/** Asks a probed process for its memory after a GC (memory-probe.ts). */
export async function probeMemory(process_: ManagedProcess): Promise<MemorySample> {
  const next = (sequences.get(process_) ?? 0) + 1;
  sequences.set(process_, next);
  process_.signal('SIGUSR2');
  // Generous: a process digesting 10,000 closes on a busy 2-core machine answers late (a snapshot, later still).
  const match = await process_.waitForLine(new RegExp(`^udns-memory (\\{"sequence":${next},.*)$`), 300_000);
  const sample = JSON.parse(match[1]!) as MemorySample;
  return { ...sample, peakRss: peakRss(process_.pid!) };
}

/** VmHWM of a process, in bytes (0 where /proc is unavailable). */
export function peakRss(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** A real edge (`udns server`, fresh data dir) with the memory probe preloaded. */
export interface ScaleEdge {
  process: ManagedProcess;
  port: number;
  url: string;
  token: string;
}

export async function startScaleEdge(group: ProcessGroup, workDir: string, label: string, extraArgs: readonly string[] = []): Promise<ScaleEdge> {
  const httpPort = await freePort();
  const dnsPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(workDir, `edge-${label}-`));
  // UDNS_SCALE_CPU_PROF_DIR: the edge writes a CPU profile there when it stops.
  const profileDir = process.env.UDNS_SCALE_CPU_PROF_DIR;
  const edge = startNode(group, `edge (${label})`, [
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=edge-${label}.cpuprofile`] : []),
    '--expose-gc', '--import', pathToFileURL(sibling('memory-probe')).href,
    udnsBin(), 'server',
    '--http-port', String(httpPort), '--dns-port', String(dnsPort),
    '--data-dir', dataDir, '--bind', '127.0.0.1', '--log-level', 'warn',
    ...extraArgs,
  ]);
  await edge.waitForLine(/udns login - --server /, START_TIMEOUT_MS);
  const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  return { process: edge, port: httpPort, url: `http://127.0.0.1:${httpPort}`, token };
}

/** A real agent (`udns http <port> --name <name>`) with the memory probe preloaded. */
export async function startScaleAgent(group: ProcessGroup, edge: ScaleEdge, originPort: number, name: string): Promise<ManagedProcess> {
  const agent = startNode(group, `agent (${name})`, [
    '--expose-gc', '--import', pathToFileURL(sibling('memory-probe')).href,
    udnsBin(), 'http', String(originPort), '--name', name, '--server', edge.url, '--transport', 'raw',
  ], { env: { ...process.env, UDNS_TOKEN: edge.token } });
  await agent.waitForLine(new RegExp(`^http://${name}\\.localhost:${edge.port} -> `), START_TIMEOUT_MS);
  return agent;
}

/**
 * Waits for the `nth` (0-based) JSON event line `{"event":"<event>",…}` of a bench child and
 * parses it; fails when the child exits or time runs out.
 */
export async function waitForEvent<T = Record<string, unknown>>(child: ManagedProcess, event: string, timeoutMs: number, nth = 0): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = child.stdout.split('\n').filter((line) => line.startsWith(`{"event":"${event}"`));
    if (lines.length > nth) return JSON.parse(lines[nth]!) as T;
    const failed = child.stdout.split('\n').find((line) => line.startsWith('{"event":"failed"'));
    if (failed !== undefined || !child.running) throw new Error(`${child.name}: ${failed ?? child.exitStatus}\n${child.describe()}`);
    if (Date.now() > deadline) throw new Error(`${child.name}: no "${event}" within ${timeoutMs} ms\n${child.describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
