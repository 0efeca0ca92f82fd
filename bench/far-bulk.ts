/*
 * Bulk transfers through udns, near and far, for comparing builds in one run: each `--bin`
 * (a udns checkout's bin/udns.js) gets its own real edge and agent process publishing the same
 * origin, optionally with a delay proxy (bench/delay-proxy.ts) on the agent's tunnel connection,
 * and the transfers alternate between them round by round, so machine load hits all alike.
 * Prints MB/s, CPU ms per MiB of edge and agent (steadier than rates on a shared machine) and
 * their peak RSS, per transfer.
 *
 *   node dist/bench/far-bulk.js --bin base=/tmp/udns-base/bin/udns.js --bin new=bin/udns.js \
 *     --delay-ms 20 --download-mib 1024 --parallel 4 --parallel-mib 256 --upload-mib 256 --rounds 3
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDelayProxy, type DelayProxy } from './delay-proxy.js';
import { measureDownload, measureUpload, waitUntilServing, type HttpTarget, type TransferResult } from './download.js';
import { downloadPath, startOrigin, UPLOAD_PATH } from './origin.js';
import { processCpuMs } from './proc-stats.js';
import { ProcessGroup, freePort, type ManagedProcess } from './processes.js';

const NAME = 'far';
const TRANSFER_TIMEOUT_MS = 15 * 60_000;

interface Pair {
  label: string;
  target: HttpTarget;
  edge: ManagedProcess;
  agent: ManagedProcess;
  proxy?: DelayProxy;
}

interface Observed {
  edgeCpu: { user: number; system: number };
  agentCpu: { user: number; system: number };
  edgeRss: number;
  agentRss: number;
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

async function startPair(group: ProcessGroup, label: string, bin: string, originPort: number, workDir: string, delayMs: number, profileDir?: string): Promise<Pair> {
  const httpPort = await freePort();
  const dnsPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(workDir, `edge-${label}-`));
  const prof = (who: string): string[] => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${who}-${label}.cpuprofile`] : []);
  const edge = group.start(`edge ${label}`, process.execPath, [...prof('edge'), bin, 'server', '--http-port', String(httpPort), '--dns-port', String(dnsPort), '--data-dir', dataDir, '--bind', '127.0.0.1']);
  await edge.waitForLine(/udns login - --server /, 60_000);
  const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  const proxy = delayMs > 0 ? await startDelayProxy({ targetHost: '127.0.0.1', targetPort: httpPort, oneWayDelayMs: delayMs }) : undefined;
  const agent = group.start(`agent ${label}`, process.execPath, [
    ...prof('agent'), bin, 'http', String(originPort), '--name', NAME,
    '--server', `http://127.0.0.1:${proxy?.port ?? httpPort}`, '--transport', 'raw',
  ], { env: { ...process.env, UDNS_TOKEN: token } });
  await agent.waitForLine(new RegExp(`^http://${NAME}\\.localhost:${httpPort} -> `), 30_000);
  const target = { port: httpPort, host: `${NAME}.localhost:${httpPort}` };
  await waitUntilServing(target, downloadPath(1024), 1024, 30_000);
  return { label, target, edge, agent, proxy };
}

/** Runs `work` while sampling edge and agent: CPU used and peak RSS. */
async function observe<T>(pair: Pair, work: () => Promise<T>): Promise<Observed & { value: T }> {
  const edgePid = pair.edge.pid!;
  const agentPid = pair.agent.pid!;
  const edgeBefore = processCpuMs(edgePid);
  const agentBefore = processCpuMs(agentPid);
  let edgeRss = rssMiB(edgePid);
  let agentRss = rssMiB(agentPid);
  const sampler = setInterval(() => {
    edgeRss = Math.max(edgeRss, rssMiB(edgePid));
    agentRss = Math.max(agentRss, rssMiB(agentPid));
  }, 100);
  try {
    const value = await work();
    const edgeAfter = processCpuMs(edgePid);
    const agentAfter = processCpuMs(agentPid);
    return {
      value,
      edgeCpu: { user: edgeAfter.user - edgeBefore.user, system: edgeAfter.system - edgeBefore.system },
      agentCpu: { user: agentAfter.user - agentBefore.user, system: agentAfter.system - agentBefore.system },
      edgeRss,
      agentRss,
    };
  } finally {
    clearInterval(sampler);
  }
}

function perMiB(cpu: { user: number; system: number }, mib: number): string {
  return `${((cpu.user + cpu.system) / mib).toFixed(2)} ms/MiB (${(cpu.user / mib).toFixed(2)} user)`;
}

function line(label: string, what: string, results: TransferResult[], observed: Observed): string {
  const mib = results.reduce((sum, r) => sum + r.bytes, 0) / 2 ** 20;
  const rates = results.map((r) => r.mbPerSec.toFixed(1)).join(' / ');
  const bad = results.some((r) => !r.ok) ? '  SHORT OR FAILED' : '';
  return `${label.padEnd(8)} ${what.padEnd(22)} ${rates.padStart(24)} MB/s   edge ${perMiB(observed.edgeCpu, mib)}   agent ${perMiB(observed.agentCpu, mib)}   peak RSS edge ${observed.edgeRss.toFixed(0)} MiB agent ${observed.agentRss.toFixed(0)} MiB${bad}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bin: { type: 'string', multiple: true },
      'delay-ms': { type: 'string', default: '20' },
      'download-mib': { type: 'string', default: '1024' },
      parallel: { type: 'string', default: '4' },
      'parallel-mib': { type: 'string', default: '256' },
      'upload-mib': { type: 'string', default: '0' },
      rounds: { type: 'string', default: '2' },
      profile: { type: 'string' },
    },
  });
  const bins = (values.bin ?? [`this=${new URL('../../bin/udns.js', import.meta.url).pathname}`]).map((spec) => {
    const [label, bin] = spec.includes('=') ? [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)] : [path.basename(path.dirname(path.dirname(spec))), spec];
    return { label: label!, bin: path.resolve(bin!) };
  });
  const delayMs = Number(values['delay-ms']);
  const downloadBytes = Number(values['download-mib']) * 2 ** 20;
  const parallel = Number(values.parallel);
  const parallelBytes = Number(values['parallel-mib']) * 2 ** 20;
  const uploadBytes = Number(values['upload-mib']) * 2 ** 20;
  const rounds = Number(values.rounds);
  if (values.profile) fs.mkdirSync(values.profile, { recursive: true });

  const group = new ProcessGroup();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-far-bulk-'));
  process.once('SIGINT', () => { group.killAllNow(); process.exit(130); });
  try {
    const origin = await startOrigin(group);
    const pairs: Pair[] = [];
    for (const { label, bin } of bins) pairs.push(await startPair(group, label, bin, origin.port, workDir, delayMs, values.profile));
    for (const pair of pairs) console.log(`${pair.label}: edge pid ${pair.edge.pid}, agent pid ${pair.agent.pid}`);
    console.log(`delay ${delayMs} ms each way (RTT +${2 * delayMs} ms), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (let round = 1; round <= rounds; round += 1) {
      for (const pair of pairs) {
        if (downloadBytes > 0) {
          const o = await observe(pair, () => measureDownload(pair.target, downloadPath(downloadBytes), downloadBytes, TRANSFER_TIMEOUT_MS));
          console.log(line(pair.label, `r${round} 1×${downloadBytes / 2 ** 20} MiB down`, [o.value], o));
        }
        if (parallel > 0 && parallelBytes > 0) {
          const o = await observe(pair, () => Promise.all(Array.from({ length: parallel }, () => measureDownload(pair.target, downloadPath(parallelBytes), parallelBytes, TRANSFER_TIMEOUT_MS))));
          console.log(line(pair.label, `r${round} ${parallel}×${parallelBytes / 2 ** 20} MiB down`, o.value, o));
        }
        if (uploadBytes > 0) {
          const o = await observe(pair, () => measureUpload(pair.target, UPLOAD_PATH, uploadBytes, TRANSFER_TIMEOUT_MS));
          console.log(line(pair.label, `r${round} 1×${uploadBytes / 2 ** 20} MiB up`, [o.value], o));
        }
      }
    }
    for (const pair of pairs) {
      await pair.agent.stop(20_000);
      await pair.edge.stop(20_000);
      await pair.proxy?.close();
    }
  } finally {
    await group.stopAll(20_000);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
