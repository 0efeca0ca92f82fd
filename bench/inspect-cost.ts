/*
 * CPU cost of the request inspector on the hot path, in-process and interleaved (rounds of each
 * variant in turn, so a loaded machine hits both alike): one kept-alive connection's request
 * heads through the agent's RequestHeadRewriter, and the origin's 1 KiB responses, without the
 * inspector (nothing installed: what `--inspect=false` runs) and with its tap (the rewriter's
 * hook records each request, the response reader reads each response, the ring keeps them).
 * `npm run bench` measures the whole path (`udns-inspect`); this isolates what the tap adds.
 *
 *   node dist/bench/inspect-cost.js [requests per round, default 50000] [rounds, default 5]
 */
import { HttpTap } from '../agent/inspector/http-tap.js';
import { ExchangeRing } from '../agent/inspector/exchange-ring.js';
import { RequestHeadRewriter } from '../agent/routes/request-head-rewriter.js';
import type { VisitorInfo } from '../protocol/index.js';

const perRound = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 5);
const visitor: VisitorInfo = { routeId: 'r', remoteAddress: '127.0.0.1', remotePort: 5000, scheme: 'http', host: 'bench.localhost:8080' };
/** wrk's request as the bench sends it, and the bench origin's 1 KiB answer. */
const head = Buffer.from('GET /bytes/1024 HTTP/1.1\r\nHost: bench.localhost:8080\r\n\r\n', 'latin1');
const response = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\nDate: Wed, 02 Dec 2026 19:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n', 'latin1'), Buffer.alloc(1024, 0x61)]);

function cpuMicros(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/** µs of CPU per request + response on one kept-alive connection, with the inspector or not. */
function round(inspect: boolean): number {
  const rewriter = new RequestHeadRewriter(visitor, 'bench.localhost');
  const ring = new ExchangeRing();
  const tap = inspect ? new HttpTap(ring, { route: 'bench', origin: { host: '127.0.0.1', port: 1 }, remoteAddress: visitor.remoteAddress }) : null;
  rewriter.observer = tap;
  rewriter.on('data', () => {});
  const micros = cpuMicros(() => {
    for (let i = 0; i < perRound; i++) {
      rewriter.write(head);
      // What http-route's data listener does per origin chunk (nothing without the inspector).
      tap?.responseBytes(response);
    }
  });
  if (inspect && ring.list().at(-1)?.state !== 'complete') throw new Error('the tap did not record the exchanges');
  rewriter.destroy();
  return micros / perRound;
}

const results = { off: [] as number[], on: [] as number[] };
round(false);
round(true);
for (let i = 0; i < rounds; i++) {
  results.off.push(round(false));
  results.on.push(round(true));
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const off = median(results.off);
const on = median(results.on);
console.log(`request + 1 KiB response through the agent's rewriter, ${perRound} per round, median of ${rounds} interleaved rounds:`);
console.log(`  inspector off: ${off.toFixed(2)} µs CPU`);
console.log(`  inspector on:  ${on.toFixed(2)} µs CPU (+${(on - off).toFixed(2)} µs: request hook, response reader, ring with 64 KiB body caps)`);
