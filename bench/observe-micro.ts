/*
 * CPU per request of each piece of per-request observation, in-process and alone (no sockets):
 * the framing reader pairing a keep-alive GET with its 1 KiB response (ExchangeWatch), the
 * latency histogram, and the access log line (JSON + queued file write). Interleaved rounds;
 * process CPU (user + system) per request. Run: `node dist/bench/observe-micro.js`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccessLog } from '../server/access-log/access-log.js';
import { EdgeMetrics } from '../server/metrics/edge-metrics.js';
import { ExchangeWatch } from '../server/observe/exchange-watch.js';
import { loggedPath } from '../server/observe/visitor-observer.js';

const REQUESTS = 200_000;
const request = Buffer.from('GET /1k HTTP/1.1\r\nHost: bench.localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n', 'latin1');
const response = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: Wed, 02 Dec 2026 19:20:01 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1024\r\n\r\n', 'latin1'), Buffer.alloc(1024, 'x')]);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-observe-micro-'));
const metrics = new EdgeMetrics({ agents: () => 0, routes: () => 0, tokenChecks: () => ({ rejected: 0, throttled: 0 }), certificate: async () => null }, { defaultMetrics: false });
const log = new AccessLog({ file: path.join(work, 'access.log'), maxBytes: 0, keep: 0 });

type Mode = 'watch' | 'watch+histogram' | 'watch+histogram+log';

async function run(mode: Mode): Promise<number> {
  const watch = new ExchangeWatch((exchange) => {
    if (mode === 'watch') return;
    metrics.httpRequest(exchange.status, exchange.durationMs);
    if (mode === 'watch+histogram') return;
    log.write(JSON.stringify({
      time: new Date(exchange.startedAt).toISOString(), kind: 'http', name: 'bench', client: '127.0.0.0/24', method: exchange.method,
      path: loggedPath(exchange.target), status: exchange.status, bytesIn: exchange.bytesIn, bytesOut: exchange.bytesOut, durationMs: Math.round(exchange.durationMs * 10) / 10,
    }));
  });
  const start = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) {
    watch.fromVisitor(request);
    watch.toVisitor(response);
    // Let the log's writer run now and then, as the event loop would between reads.
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await log.flush();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / REQUESTS;
}

const modes: Mode[] = ['watch', 'watch+histogram', 'watch+histogram+log'];
for (const mode of modes) await run(mode); // warm-up
for (let round = 1; round <= 3; round++) {
  const results: string[] = [];
  for (const mode of modes) results.push(`${mode} ${(await run(mode)).toFixed(2)} us`);
  console.log(`round ${round}: CPU per request: ${results.join(', ')}`);
}
await log.close();
fs.rmSync(work, { recursive: true, force: true });
