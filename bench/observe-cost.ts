/*
 * What per-request observation at the edge costs (server/observe/: the access log and the
 * latency histogram): two real edge + agent pairs, one plain and one with `--access-log`, take
 * the same wrk load of 1 KiB keep-alive GETs, interleaved for a few rounds; the edge's CPU time
 * per request (user + system, from /proc) is compared round by round, which survives a loaded
 * machine far better than req/s. Run: `npm run build && node dist/bench/observe-cost.js`
 * (UDNS_OBSERVE_ROUNDS, UDNS_OBSERVE_SECONDS, UDNS_OBSERVE_CONNECTIONS).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envInt } from './env-int.js';
import { SMALL_PATH, startOrigin } from './origin.js';
import { processCpuMs } from './proc-stats.js';
import { ProcessGroup } from './processes.js';
import { startUdnsPath, type UdnsPath } from './udns-path.js';
import { runWrk } from './wrk.js';

const rounds = envInt('UDNS_OBSERVE_ROUNDS', 3);
const seconds = envInt('UDNS_OBSERVE_SECONDS', 3);
const connections = envInt('UDNS_OBSERVE_CONNECTIONS', 16);

async function cpuPerRequest(pathUnderTest: UdnsPath): Promise<{ usPerRequest: number; requests: number; rps: number }> {
  const pid = pathUnderTest.edge.pid!;
  const before = processCpuMs(pid);
  const result = await runWrk(group, { url: `http://127.0.0.1:${pathUnderTest.port}${SMALL_PATH}`, host: pathUnderTest.host, connections, durationSec: seconds });
  const after = processCpuMs(pid);
  const cpuMs = after.user + after.system - before.user - before.system;
  return { usPerRequest: (cpuMs * 1000) / result.requests, requests: result.requests, rps: result.requestsPerSec };
}

const group = new ProcessGroup();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-observe-bench-'));
try {
  const origin = await startOrigin(group);
  const plain = await startUdnsPath(group, { publish: { originPort: origin.port }, transport: 'raw', workDir: work });
  const logged = await startUdnsPath(group, { publish: { originPort: origin.port }, transport: 'raw', workDir: work, edgeArgs: ['--access-log', path.join(work, 'access.log'), '--access-log-max-bytes', '0'] });
  // Warm both up (JIT, connection set-up) before measuring.
  await runWrk(group, { url: `http://127.0.0.1:${plain.port}${SMALL_PATH}`, host: plain.host, connections, durationSec: 1 });
  await runWrk(group, { url: `http://127.0.0.1:${logged.port}${SMALL_PATH}`, host: logged.host, connections, durationSec: 1 });
  const rows: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    const off = await cpuPerRequest(plain);
    const on = await cpuPerRequest(logged);
    rows.push(`round ${round}: edge CPU per request off ${off.usPerRequest.toFixed(1)} us (${Math.round(off.rps)} req/s), on ${on.usPerRequest.toFixed(1)} us (${Math.round(on.rps)} req/s), +${(on.usPerRequest - off.usPerRequest).toFixed(1)} us (${(((on.usPerRequest / off.usPerRequest) - 1) * 100).toFixed(0)}%)`);
    console.log(rows[rows.length - 1]);
  }
  const lines = fs.readFileSync(path.join(work, 'access.log'), 'utf8').split('\n').length - 1;
  console.log(`access log lines written: ${lines}`);
  await logged.stop();
  await plain.stop();
} finally {
  await group.stopAll();
  fs.rmSync(work, { recursive: true, force: true });
}
