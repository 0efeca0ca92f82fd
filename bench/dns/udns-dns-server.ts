/*
 * The udns side of the DNS benchmark, run as its own process: startDnsServer on 127.0.0.1
 * with the benchmark zone, rate limiting off (one dnsperf source would otherwise be held to
 * 20 answers/s, as NSD's is turned off too). Prints `ready <udpPort> <tcpPort>` on stdout,
 * stops on SIGTERM or SIGINT, or when the benchmark that started it goes (its stdin pipe closes).
 *
 *   node dist/bench/dns/udns-dns-server.js [names]
 */
import fs from 'node:fs';
import pino from 'pino';
import { startDnsServer } from '../../server/dns/dns-server.js';
import { benchZoneView } from './bench-zone.js';

const names = Number(process.argv[2] ?? 1000);
const server = await startDnsServer({
  zone: benchZoneView(names),
  port: 0,
  bind: '127.0.0.1',
  logger: pino({ level: 'warn' }, pino.destination(2)),
  rateLimit: false,
});
process.stdout.write(`ready ${server.udpPort} ${server.tcpPort}\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// Started by the benchmark, stdin is a pipe from it: its closing means the benchmark is gone.
if (fs.fstatSync(0).isFIFO()) {
  process.stdin.once('end', stop);
  process.stdin.resume();
}
