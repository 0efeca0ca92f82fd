/*
 * `npm run bench:share`: one file (1 GiB of random bytes by default) downloaded from a plain
 * Node static server on loopback (the baseline) and from `udns share` through a real edge and
 * agent, in one run, N times each, rounds interleaved so drift hits every path alike. Prints
 * MB/s best and median with the udns/baseline ratios and writes JSON to bench/results/.
 * See share-bench-options.ts for the options.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProfileSummary, summariseCpuProfileFile, type ProfileSummary } from '../cpu-profile-summary.js';
import { getAndCount, measureDownload, waitUntilServing, type DownloadResult, type HttpTarget } from '../download.js';
import { measureCpu } from '../proc-stats.js';
import { ProcessGroup, redactTokens, startHelperServer, type ManagedProcess } from '../processes.js';
import { startUdnsPath, type UdnsPath } from '../udns-path.js';
import { ShareBenchOptionsError, USAGE, downloadTimeoutMs, parseShareBenchOptions, type ShareBenchOptions } from './share-bench-options.js';
import { formatShareReport, summarise, type SharePathName, type SharePathResult, type ShareSample } from './share-report.js';
import { guardedRun } from '../guarded-run.js';

/** Served first by every path: proves it answers end to end and warms it up. */
const WARMUP_FILE = 'warmup.bin';
const WARMUP_BYTES = 16 * 1024 * 1024;
/** A STORE zip of one file adds its headers and central directory: far less than this. */
const ZIP_OVERHEAD_LIMIT = 64 * 1024;
const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

const progress = (message: string): void => void process.stderr.write(`bench:share: ${message}\n`);

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error('cannot find the udns checkout (package.json next to bench/)');
}

/** Writes `bytes` of fresh random data: nothing on any path can shrink or dedupe it. */
function writeRandomFile(file: string, bytes: number): void {
  const chunk = Buffer.alloc(Math.min(WRITE_CHUNK_BYTES, bytes));
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      const size = Math.min(left, chunk.length);
      crypto.randomFillSync(chunk, 0, size);
      fs.writeSync(fd, chunk, 0, size);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The baseline (static-server.ts) as its own process, serving `dir`; it dies with its stdin. */
async function startStaticServer(group: ProcessGroup, dir: string): Promise<{ port: number; process: ManagedProcess }> {
  const script = fileURLToPath(new URL('./static-server.js', import.meta.url));
  return startHelperServer(group, 'static server', script, [dir], /^static listening on (\d+)$/);
}

/** A ZIP's size is not known up front: it is complete if it holds the file plus a little. */
async function measureZipDownload(target: HttpTarget, url: string, fileBytes: number, timeoutMs: number): Promise<DownloadResult> {
  const { status, bytes, seconds } = await getAndCount(target, url, timeoutMs);
  const ok = status === 200 && bytes > fileBytes && bytes < fileBytes + ZIP_OVERHEAD_LIMIT;
  return { expectedBytes: fileBytes, bytes, seconds, mbPerSec: bytes / 1e6 / seconds, ok, status };
}

/** One path of the run: where it is and which processes serve it. */
interface Lane {
  result: SharePathResult;
  target: HttpTarget;
  servers: ManagedProcess[];
  zip: boolean;
}

async function measureOnce(lane: Lane, fileBytes: number): Promise<ShareSample> {
  const timeoutMs = downloadTimeoutMs(fileBytes);
  const clientBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const { value, cpu } = await measureCpu(lane.servers, () => (lane.zip
    ? measureZipDownload(lane.target, lane.result.url, fileBytes, timeoutMs)
    : measureDownload(lane.target, lane.result.url, fileBytes, timeoutMs)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const client = process.cpuUsage(clientBefore);
  return { ...value, cpu, clientCpu: (client.user + client.system) / 1e6 / seconds };
}

function summariseProfiles(profileDir: string): ProfileSummary[] {
  if (!fs.existsSync(profileDir)) return [];
  const files = fs.readdirSync(profileDir).filter((file) => file.endsWith('.cpuprofile')).sort();
  return files.map((file) => summariseCpuProfileFile(path.join(profileDir, file)));
}

async function run(options: ShareBenchOptions, group: ProcessGroup, workDir: string): Promise<number> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(repoRoot(), 'bench', 'results');
  const profileDir = options.profile ? path.join(resultsDir, `share-profiles-${stamp}`) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();

  // The file sits in a subfolder so that `?zip` of that folder is exactly the file.
  const shareDir = path.join(workDir, 'share');
  const fileName = `bench-${(options.sizeBytes / 1024 / 1024).toFixed(0)}mib.bin`;
  fs.mkdirSync(path.join(shareDir, 'data'), { recursive: true });
  progress(`writing ${(options.sizeBytes / 1024 / 1024).toFixed(0)} MiB of random bytes to ${shareDir}`);
  writeRandomFile(path.join(shareDir, 'data', fileName), options.sizeBytes);
  writeRandomFile(path.join(shareDir, WARMUP_FILE), WARMUP_BYTES);

  const fileUrl = `/data/${fileName}`;
  const lanes: Lane[] = [];
  const newResult = (name: SharePathName, label: string, url: string): SharePathResult => ({ path: name, label, url, samples: [] });
  const staticResult = newResult('static', 'static (express)', fileUrl);
  const shareResult = newResult('share', `udns share (${options.transport})`, fileUrl);
  const zipResult = newResult('share-zip', `udns share ?zip`, '/data/?zip');
  const results = options.zip ? [staticResult, shareResult, zipResult] : [staticResult, shareResult];

  let udns: UdnsPath | undefined;
  try {
    progress('starting the static server');
    const baseline = await startStaticServer(group, shareDir);
    lanes.push({ result: staticResult, target: { port: baseline.port }, servers: [baseline.process], zip: false });
  } catch (error) {
    staticResult.error = redactTokens((error as Error).message);
  }
  try {
    progress(`starting an edge and \`udns share\` (${options.transport})${profileDir ? ' under --cpu-prof' : ''}`);
    udns = await startUdnsPath(group, { publish: { shareDir }, transport: options.transport, workDir, profileDir });
    const target = { port: udns.port, host: udns.host };
    lanes.push({ result: shareResult, target, servers: [udns.edge, udns.agent], zip: false });
    if (options.zip) lanes.push({ result: zipResult, target, servers: [udns.edge, udns.agent], zip: true });
  } catch (error) {
    shareResult.error = zipResult.error = redactTokens((error as Error).message);
  }
  for (const lane of lanes) {
    try {
      await waitUntilServing(lane.target, `/${WARMUP_FILE}`, WARMUP_BYTES, 15_000);
    } catch (error) {
      lane.result.error = redactTokens((error as Error).message);
    }
  }

  for (let round = 1; round <= options.runs; round++) {
    for (const lane of lanes.filter((l) => !l.result.error)) {
      progress(`round ${round}/${options.runs}: ${lane.result.label} GET ${lane.result.url}`);
      try {
        const sample = await measureOnce(lane, options.sizeBytes);
        lane.result.samples.push(sample);
        progress(`  ${sample.mbPerSec.toFixed(0)} MB/s${sample.ok ? '' : ` SHORT: ${sample.bytes} bytes, status ${sample.status}`}`);
      } catch (error) {
        lane.result.error = redactTokens((error as Error).message);
        progress(`  FAILED: ${lane.result.error}`);
      }
    }
  }
  // Agent and edge stop gracefully here, so profiles are written before they are read.
  await udns?.stop();

  const summaries = summarise(results);
  const header = `share download: one ${(options.sizeBytes / 1024 / 1024).toFixed(0)} MiB file, ${options.runs} runs per path, rounds interleaved; `
    + `loopback, ${os.cpus().length} cores, the client is this process; MB/s = 10^6 bytes/s`;
  console.log(`\n${header}\n\n${formatShareReport(results, summaries)}`);
  console.log(`\nload avg before: ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);

  const profiles = profileDir ? summariseProfiles(profileDir) : [];
  for (const summary of profiles) console.log(`\n${formatProfileSummary(summary)}`);

  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `share-${stamp}.json`);
  const document = {
    startedAt,
    finishedAt: new Date().toISOString(),
    options,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    load: { before: loadBefore, after: os.loadavg() },
    results,
    summaries,
    profiles,
    profileDir,
  };
  fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), file) || file}`);
  const clean = results.every((result) => !result.error && result.samples.length === options.runs && result.samples.every((s) => s.ok));
  return clean ? 0 : 1;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  let options: ShareBenchOptions;
  try {
    options = parseShareBenchOptions(argv);
  } catch (error) {
    if (!(error instanceof ShareBenchOptionsError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  await guardedRun('bench:share', options.timeoutSec, (group, workDir) => run(options, group, workDir));
}

await main();
