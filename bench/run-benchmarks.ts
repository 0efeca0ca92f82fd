/*
 * `npm run bench`: the same origin reached directly, through one nginx reverse-proxy hop, through
 * the two-process references (two nginx hops, two bare Node pipes), through udns (raw and ws
 * transports) and through `ssh -R`, all up at once and measured in turn in one run (wrk rounds on
 * 1 KiB, one download, one upload, CPU per request and per MiB), then udns and `ssh -R`
 * with their tunnel connection through a delay proxy (one big download, several at once);
 * printed as tables with ratios and the issue's goals, and written to bench/results/. See
 * bench-options.ts for the options.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchOptionsError, FAR_PATHS, USAGE, parseBenchOptions, type BenchOptions, type PathName } from './bench-options.js';
import { measureCpu, type CpuSeconds } from './proc-stats.js';
import { formatProfileSummary, summariseCpuProfileFile, type ProfileSummary } from './cpu-profile-summary.js';
import { measureDownload, measureParallelDownloads, measureUpload, waitUntilServing, type HttpTarget } from './download.js';
import { startNginxHop } from './nginx-hop.js';
import { startPipeRelays } from './pipe-relays.js';
import { SMALL_PATH, UPLOAD_PATH, downloadPath, startOrigin, type Origin } from './origin.js';
import { ProcessGroup, redactTokens, type ManagedProcess } from './processes.js';
import { PATH_LABELS, analyse, formatReport, type PathResult } from './report.js';
import { startSshForward } from './ssh-forward.js';
import { startUdnsPath } from './udns-path.js';
import { combineWrkRounds, runWrk, type WrkRequest, type WrkResult } from './wrk.js';
import { guardedRun } from './guarded-run.js';

const WARMUP_DOWNLOAD_BYTES = 16 * 1024 * 1024;

/** A path that is up and serving, and how to take it down. */
interface OpenPath {
  target: HttpTarget;
  /** How it was set up, where that matters to read its numbers (asked once it has served). */
  setup?: () => string;
  stop(): Promise<void>;
}

const benchStarted = Date.now();
const progress = (message: string): void => {
  process.stderr.write(`bench: [${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
};

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error('cannot find the udns checkout (package.json next to bench/)');
}

function commandOutput(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8', timeout: 5000 });
  return `${run.stdout ?? ''}${run.stderr ?? ''}`.split('\n')[0]?.trim() || `${command}: unavailable`;
}

/** The `udns-auth` path's Basic user (a benchmark's, not a secret). */
const BENCH_USER = 'bench';
const BENCH_PASSWORD = 'bench-password-1';

async function openPath(name: PathName, origin: Origin, group: ProcessGroup, workDir: string, options: BenchOptions, profileDir?: string): Promise<OpenPath> {
  switch (name) {
    case 'direct':
      return { target: { port: origin.port }, stop: async () => {} };
    case 'nginx': {
      const nginx = await startNginxHop(group, { originPort: origin.port, workDir, workers: options.nginxWorkers });
      const setup = (): string => {
        const workers = nginx.workerCount();
        return `${nginx.version.replace(/^nginx version: /, '')}, worker_processes ${options.nginxWorkers} (${workers} worker${workers === 1 ? '' : 's'} on ${os.cpus().length} cores), keepalive 64 upstream`;
      };
      return { target: { port: nginx.port }, setup, stop: () => nginx.stop() };
    }
    case 'nginx2': {
      // Two hops in a row: the fastest two-process path on this machine, the ceiling for a tunnel
      // (visitor → edge → agent → origin) when both its ends share the cores with the origin.
      const second = await startNginxHop(group, { originPort: origin.port, workDir, workers: options.nginxWorkers, name: 'nginx (2)' });
      const first = await startNginxHop(group, { originPort: second.port, workDir, workers: options.nginxWorkers, name: 'nginx (1)' });
      return { target: { port: first.port }, stop: async () => { await first.stop(); await second.stop(); } };
    }
    case 'node2': {
      const relays = await startPipeRelays(group, { originPort: origin.port });
      return { target: { port: relays.port }, stop: () => relays.stop() };
    }
    case 'udns':
    case 'udns-ws':
    case 'udns-far': {
      const udns = await startUdnsPath(group, {
        publish: { originPort: origin.port },
        transport: name === 'udns-ws' ? 'ws' : 'raw',
        workDir,
        profileDir,
        tunnelDelayMs: name === 'udns-far' ? options.farDelayMs : undefined,
      });
      return { target: { port: udns.port, host: udns.host }, stop: () => udns.stop() };
    }
    case 'udns-h2': {
      // The same tunnel on the HTTP/2 mux (what agents ran before the frame mux): the baseline
      // the frame mux is measured against in the same run.
      const udns = await startUdnsPath(group, {
        publish: { originPort: origin.port },
        transport: 'raw',
        workDir,
        profileDir,
        agentArgs: { label: 'h2', args: ['--mux', 'http2'] },
      });
      return { target: { port: udns.port, host: udns.host }, stop: () => udns.stop() };
    }
    case 'udns-auth': {
      // Access control on, as a NAS owner would set it: one Basic user and an allow list the
      // visitors are in. Every request carries the right credentials (edge: the first head of
      // each connection; agent: every head).
      const udns = await startUdnsPath(group, {
        publish: { originPort: origin.port },
        transport: 'raw',
        workDir,
        profileDir,
        agentArgs: { label: 'auth', args: ['--basic-auth', `${BENCH_USER}:${BENCH_PASSWORD}`, '--allow-ip', '127.0.0.0/8', '--allow-ip', '::1'] },
      });
      const authorization = `Basic ${Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64')}`;
      return { target: { port: udns.port, host: udns.host, authorization }, stop: () => udns.stop() };
    }
    case 'udns-inspect': {
      // `udns http` as people run it: the request inspector on (nobody watching its page).
      const udns = await startUdnsPath(group, { publish: { originPort: origin.port }, transport: 'raw', workDir, profileDir, inspect: true });
      return { target: { port: udns.port, host: udns.host }, stop: () => udns.stop() };
    }
    case 'ssh':
    case 'ssh-far': {
      const ssh = await startSshForward(group, { originPort: origin.port, workDir, tunnelDelayMs: name === 'ssh-far' ? options.farDelayMs : undefined });
      return { target: { port: ssh.port }, stop: () => ssh.stop() };
    }
  }
}

/** Bounded, yet loose enough for 5 MB/s: a slow path is a result, not a timeout. */
const transferTimeoutMs = (bytes: number): number => 60_000 + (bytes / 5e6) * 1000;
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** Marks a path as failed (its message with tokens hidden) and says so. */
function markFailed(result: PathResult, error: unknown): void {
  result.error = redactTokens((error as Error).message);
  progress(`${result.label}: FAILED: ${result.error}`);
}

/** A near path that is up, the processes it started (its CPU is theirs), and its result so far. */
interface NearPath {
  result: PathResult;
  open: OpenPath;
  processes: ManagedProcess[];
  rounds: WrkResult[];
  cpuRounds: CpuSeconds[];
}

function smallLoad(target: HttpTarget, options: BenchOptions): Omit<WrkRequest, 'durationSec'> {
  const url = `http://127.0.0.1:${target.port}${SMALL_PATH}`;
  return { url, host: target.host, connections: options.connections, ...(target.authorization ? { headers: [`Authorization: ${target.authorization}`] } : {}) };
}

async function warmUp(near: NearPath, group: ProcessGroup, options: BenchOptions): Promise<void> {
  await waitUntilServing(near.open.target, SMALL_PATH, 1024, 15_000);
  if (options.warmupSec <= 0) return;
  progress(`${near.result.label}: warm-up ${options.warmupSec}s`);
  await runWrk(group, { ...smallLoad(near.open.target, options), durationSec: options.warmupSec });
}

/** One measured wrk round; the CPU counted is the origin's and this path's own processes'. */
async function measureRound(near: NearPath, origin: Origin, group: ProcessGroup, options: BenchOptions, round: number): Promise<void> {
  if (near.rounds.length === 0) near.result.loadAvgAtStart = os.loadavg();
  progress(`${near.result.label}: wrk -t1 -c${options.connections} -d${options.durationSec}s (round ${round} of ${options.rounds})`);
  const measured = await measureCpu([origin.process, ...near.processes], () => runWrk(group, { ...smallLoad(near.open.target, options), durationSec: options.durationSec }));
  near.rounds.push(measured.value);
  near.cpuRounds.push(measured.cpuSeconds);
  near.result.wrkRounds = near.rounds;
  near.result.wrk = combineWrkRounds(near.rounds);
  near.result.cpuSecondsDuringWrk = addCpuSeconds(near.cpuRounds);
  near.result.cpuDuringWrk = Object.fromEntries(Object.entries(near.result.cpuSecondsDuringWrk).map(([name, seconds]) => [name, seconds / near.result.wrk!.durationSec]));
}

function addCpuSeconds(rounds: readonly CpuSeconds[]): CpuSeconds {
  const total: CpuSeconds = {};
  for (const round of rounds) for (const [name, seconds] of Object.entries(round)) total[name] = (total[name] ?? 0) + seconds;
  return total;
}

/** One download and one upload, after a warm-up download, with the CPU each took. */
async function measureTransfers(near: NearPath, origin: Origin, options: BenchOptions): Promise<void> {
  const { result, open: { target } } = near;
  const processes = [origin.process, ...near.processes];
  await waitUntilServing(target, SMALL_PATH, 1024, 15_000);
  if (options.warmupSec > 0) {
    const warmBytes = Math.min(WARMUP_DOWNLOAD_BYTES, options.downloadBytes);
    await measureDownload(target, downloadPath(warmBytes), warmBytes, 30_000);
  }
  progress(`${result.label}: downloading ${mib(options.downloadBytes)}`);
  const downloaded = await measureCpu(processes, () => measureDownload(target, downloadPath(options.downloadBytes), options.downloadBytes, transferTimeoutMs(options.downloadBytes)));
  result.download = downloaded.value;
  result.cpuDuringDownload = downloaded.cpu;
  result.cpuSecondsDuringDownload = downloaded.cpuSeconds;
  if (options.uploadBytes > 0) {
    progress(`${result.label}: uploading ${mib(options.uploadBytes)}`);
    const uploaded = await measureCpu(processes, () => measureUpload(target, UPLOAD_PATH, options.uploadBytes, transferTimeoutMs(options.uploadBytes)));
    result.upload = uploaded.value;
    result.cpuSecondsDuringUpload = uploaded.cpuSeconds;
  }
}

/**
 * The near paths: all up at once for the wrk warm-ups and `rounds` measured wrk runs taken in
 * turn across the paths (a slow stretch of this shared machine lands on all of them, not on
 * whichever path ran then); then each path again on its own for its transfers. Bulk transfers
 * are not measured with the other paths up: with six idle udns paths beside it, one download
 * through the tunnel moved 190–305 MB/s, alone 460, at three times the edge's CPU per MiB. A path
 * that fails is marked and left out of what follows.
 */
async function measureNearPaths(names: PathName[], results: PathResult[], origin: Origin, group: ProcessGroup, workDir: string, options: BenchOptions, profileDir?: string): Promise<void> {
  const paths: NearPath[] = [];
  const attempt = async (near: NearPath, step: () => Promise<void>): Promise<void> => {
    try {
      await step();
    } catch (error) {
      markFailed(near.result, error);
    }
  };
  /** Opens a path and notes the processes it started: its CPU is theirs. */
  const open = async (name: PathName, profile?: string): Promise<Pick<NearPath, 'open' | 'processes'>> => {
    const before = new Set(group.live());
    const opened = await openPath(name, origin, group, workDir, options, profile);
    return { open: opened, processes: group.live().filter((p) => !before.has(p)) };
  };
  const alive = (): NearPath[] => paths.filter((near) => !near.result.error);
  try {
    for (const name of names) {
      const result: PathResult = { path: name, label: PATH_LABELS[name], loadAvgAtStart: os.loadavg() };
      results.push(result);
      try {
        progress(`${result.label}: starting`);
        paths.push({ result, ...(await open(name, profileDir)), rounds: [], cpuRounds: [] });
      } catch (error) {
        markFailed(result, error);
      }
    }
    for (const near of alive()) await attempt(near, () => warmUp(near, group, options));
    for (let round = 1; round <= options.rounds; round++) {
      for (const near of alive()) await attempt(near, () => measureRound(near, origin, group, options, round));
    }
    for (const near of alive()) near.result.setup = near.open.setup?.();
  } finally {
    for (const near of paths) await near.open.stop();
  }
  // Profiles (if asked for) cover the wrk rounds; a second run under the profiler would overwrite them.
  for (const near of alive()) {
    await attempt(near, async () => {
      progress(`${near.result.label}: starting again for its transfers, on its own`);
      Object.assign(near, await open(near.result.path));
      try {
        await measureTransfers(near, origin, options);
      } finally {
        await near.open.stop();
      }
    });
  }
}

/**
 * A far path: no warm-up (a window that has to grow is part of the result), one big download,
 * then several at once on separate connections.
 */
async function measureFarPath(result: PathResult, target: HttpTarget, group: ProcessGroup, options: BenchOptions): Promise<void> {
  await waitUntilServing(target, SMALL_PATH, 1024, 15_000);
  result.far = { oneWayDelayMs: options.farDelayMs };
  progress(`${result.label}: downloading ${mib(options.farDownloadBytes)} (${options.farDelayMs} ms each way)`);
  const single = await measureCpu(group.live(), () => measureDownload(target, downloadPath(options.farDownloadBytes), options.farDownloadBytes, transferTimeoutMs(options.farDownloadBytes)));
  result.far.single = single.value;
  result.far.cpuSecondsDuringSingle = single.cpuSeconds;
  if (options.farParallel > 0) {
    progress(`${result.label}: ${options.farParallel} downloads of ${mib(options.farParallelBytes)} at once`);
    const bytes = options.farParallelBytes;
    result.far.parallel = await measureParallelDownloads(target, downloadPath(bytes), bytes, options.farParallel, transferTimeoutMs(bytes * options.farParallel));
  }
}

function summariseProfiles(profileDir: string): ProfileSummary[] {
  if (!fs.existsSync(profileDir)) return [];
  const files = fs.readdirSync(profileDir).filter((file) => file.endsWith('.cpuprofile')).sort();
  return files.map((file) => summariseCpuProfileFile(path.join(profileDir, file)));
}

async function run(options: BenchOptions, group: ProcessGroup, workDir: string): Promise<number> {
  const root = repoRoot();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(root, 'bench', 'results');
  const profileDir = options.profile ? path.join(resultsDir, `profiles-${stamp}`) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const startedAt = new Date().toISOString();
  const started = Date.now();
  const uptimeBefore = commandOutput('uptime', []);
  const loadAvgBefore = os.loadavg();
  progress(`paths ${options.paths.join(', ')}; ${uptimeBefore}`);
  if (profileDir) progress(`profiling edge and agent into ${profileDir}: numbers of this run include profiler overhead`);

  const origin = await startOrigin(group);
  const results: PathResult[] = [];
  await measureNearPaths(options.paths.filter((name) => !FAR_PATHS.includes(name)), results, origin, group, workDir, options, profileDir);
  // Far paths one at a time: each download wants the whole machine.
  for (const name of options.paths.filter((path) => FAR_PATHS.includes(path))) {
    const result: PathResult = { path: name, label: PATH_LABELS[name], loadAvgAtStart: os.loadavg() };
    results.push(result);
    let open: OpenPath | undefined;
    try {
      progress(`${result.label}: starting`);
      open = await openPath(name, origin, group, workDir, options, profileDir);
      await measureFarPath(result, open.target, group, options);
      result.setup = open.setup?.();
    } catch (error) {
      markFailed(result, error);
    } finally {
      await open?.stop();
    }
  }
  await origin.process.stop();

  const analysis = analyse(results);
  const uptimeAfter = commandOutput('uptime', []);
  const report = formatReport(results, analysis);
  const elapsedSec = Math.round((Date.now() - started) / 1000);
  console.log(`\n${report}\n\nload before: ${uptimeBefore}\nload after:  ${uptimeAfter}\nthe run took ${elapsedSec} s`);

  const profiles = profileDir ? summariseProfiles(profileDir) : [];
  for (const summary of profiles) console.log(`\n${formatProfileSummary(summary)}`);

  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `bench-${stamp}.json`);
  const document = {
    startedAt,
    finishedAt: new Date().toISOString(),
    elapsedSec,
    options,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      wrk: commandOutput('wrk', ['-v']),
      ssh: commandOutput('ssh', ['-V']),
      nginx: commandOutput('/usr/sbin/nginx', ['-v']),
    },
    load: { before: loadAvgBefore, after: os.loadavg(), uptimeBefore, uptimeAfter },
    results,
    analysis,
    profiles,
    profileDir,
  };
  fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), file) || file}`);
  return results.some((r) => r.error) ? 1 : 0;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  let options: BenchOptions;
  try {
    options = parseBenchOptions(argv, process.env);
  } catch (error) {
    if (!(error instanceof BenchOptionsError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  await guardedRun('bench', options.timeoutSec, (group, workDir) => run(options, group, workDir));
}

await main();
