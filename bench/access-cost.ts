/*
 * CPU cost of route access control on the hot path, in-process and interleaved (rounds of
 * each variant in turn, so a loaded machine hits all alike): the agent's request head rewriter
 * without and with a `--basic-auth` + `--allow-ip` guard (every head checked, the usual case of
 * a kept-alive browser: the same Authorization value again), and the edge's first-head check of
 * a connection (IP rules, SHA-256 look-up of accepted credentials). `npm run bench` measures the
 * whole path (`udns-auth`); this isolates the part access control adds.
 *
 *   node dist/bench/access-cost.js [requests per round, default 50000] [rounds, default 5]
 */
import { RouteGuard } from '../agent/access/route-guard.js';
import { RequestHeadRewriter } from '../agent/routes/request-head-rewriter.js';
import { routeAccessWire, type VisitorInfo } from '../protocol/index.js';
import { BasicAuthThrottle } from '../server/access/basic-auth-throttle.js';
import { headerValues } from '../server/access/http-access.js';
import { RouteAccessGate } from '../server/access/route-access-gate.js';

const perRound = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 5);
const spec = { basicAuth: [{ user: 'bench', password: 'bench-password-1' }], allowIp: ['127.0.0.0/8', '::1'] };
const authorization = `Basic ${Buffer.from('bench:bench-password-1').toString('base64')}`;
const visitor: VisitorInfo = { routeId: 'r', remoteAddress: '127.0.0.1', remotePort: 5000, scheme: 'http', host: 'bench.localhost:8080' };
/** A browser-like head: what wrk's 1 KiB requests look like plus the usual headers. */
const head = Buffer.from([
  'GET /bytes/1024 HTTP/1.1', 'Host: bench.localhost:8080', 'User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
  'Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8', 'Accept-Language: en-GB,en;q=0.5', 'Accept-Encoding: gzip, deflate',
  `Authorization: ${authorization}`, 'Connection: keep-alive', '', '',
].join('\r\n'), 'latin1');
const batch = Buffer.concat(Array.from({ length: 100 }, () => head));

function cpuMicros(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/** µs of CPU per request head through one rewriter (a kept-alive connection), guard or not. */
function rewriterRound(guard: RouteGuard | null): number {
  const rewriter = new RequestHeadRewriter(visitor, null);
  if (guard !== null) rewriter.authorize = guard.forConnection(visitor);
  let refused = 0;
  rewriter.on('rejected', () => { refused++; });
  rewriter.on('data', () => {});
  const micros = cpuMicros(() => {
    for (let i = 0; i < perRound / 100; i++) rewriter.write(batch);
  });
  if (refused > 0) throw new Error('the guard refused a right request');
  rewriter.destroy();
  return micros / perRound;
}

/** µs of CPU per visitor connection for the edge's check of its first head (credentials cached). */
function edgeRound(gate: RouteAccessGate): number {
  const end = head.length;
  return cpuMicros(() => {
    for (let i = 0; i < perRound; i++) {
      if (!gate.ip.allows('127.0.0.1')) throw new Error('refused');
      if (gate.checkBasic(headerValues(head, end, 'authorization'), '127.0.0.1').kind !== 'ok') throw new Error('refused');
    }
  }) / perRound;
}

const guard = new RouteGuard(spec, 'http');
const gate = RouteAccessGate.of(routeAccessWire(spec), 'http', new BasicAuthThrottle())!;
// Warm-up: JIT, and the first (uncached) check of each side.
rewriterRound(null);
rewriterRound(guard);
edgeRound(gate);
const results = { without: [] as number[], withGuard: [] as number[], edge: [] as number[] };
for (let round = 0; round < rounds; round++) {
  results.without.push(rewriterRound(null));
  results.withGuard.push(rewriterRound(guard));
  results.edge.push(edgeRound(gate));
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const show = (values: number[]): string => `median ${median(values).toFixed(2)} µs (rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`;
console.log(`${perRound} requests x ${rounds} rounds, interleaved; CPU per request head`);
console.log(`agent rewriter, no access rules:            ${show(results.without)}`);
console.log(`agent rewriter, --basic-auth + --allow-ip:  ${show(results.withGuard)}`);
console.log(`  added by the guard:                        ${(median(results.withGuard) - median(results.without)).toFixed(2)} µs per request`);
console.log(`edge, first head of a connection (cached):  ${show(results.edge)} per connection`);
