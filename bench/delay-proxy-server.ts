/*
 * The far paths' delay proxy (bench/delay-proxy.ts) as its own process, started by far-link.ts:
 * run in the benchmark's own process it would share an event loop with the downloading client,
 * and its timers with the client's work. Arguments: <targetPort> <oneWayDelayMs>. Prints
 * `delay proxy listening on <port>` and exits when its stdin closes (the benchmark went away).
 */
import { startDelayProxy } from './delay-proxy.js';
import { exitWithParent } from './exit-with-parent.js';

const [targetPort, oneWayDelayMs] = process.argv.slice(2).map(Number);
if (!Number.isInteger(targetPort) || !Number.isFinite(oneWayDelayMs)) {
  process.stderr.write('usage: delay-proxy-server.js <targetPort> <oneWayDelayMs>\n');
  process.exit(2);
}
const proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: targetPort!, oneWayDelayMs: oneWayDelayMs! });
process.stdout.write(`delay proxy listening on ${proxy.port}\n`);
exitWithParent();
