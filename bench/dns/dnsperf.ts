/* Runs dnsperf against one server and reads its report. */
import type { ProcessGroup } from '../processes.js';

/** What the benchmark takes from dnsperf's report. */
export interface DnsperfResult {
  queriesSent: number;
  queriesCompleted: number;
  queriesLost: number;
  qps: number;
  /** Average, min and max latency of completed queries, in milliseconds. */
  latencyAvgMs: number;
  latencyMinMs: number;
  latencyMaxMs: number;
  latencyStdDevMs: number;
  /** Average response size in bytes, as dnsperf saw it. */
  responseBytes: number;
  /** e.g. "NOERROR 1234 (90.1%), NXDOMAIN 135 (9.9%)" */
  responseCodes: string;
}

/** How to load one server. */
export interface DnsperfRun {
  port: number;
  mode: 'udp' | 'tcp';
  queryFile: string;
  durationSec: number;
  /** dnsperf -c: client sockets (UDP) or connections (TCP). */
  clients: number;
  /** dnsperf -q: queries in flight at most. */
  outstanding: number;
}

function number(report: string, pattern: RegExp, what: string): number {
  const match = pattern.exec(report);
  if (match === null) throw new Error(`dnsperf report has no ${what}:\n${report}`);
  return Number(match[1]);
}

/** Parses dnsperf's "Statistics:" block (the query latency, not the TCP connection one). */
export function parseDnsperf(output: string): DnsperfResult {
  const start = output.indexOf('Statistics:');
  if (start === -1) throw new Error(`dnsperf printed no statistics:\n${output.slice(-2000)}`);
  const report = output.slice(start, output.indexOf('Connection Statistics:') === -1 ? undefined : output.indexOf('Connection Statistics:'));
  const latency = /Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)/.exec(report);
  if (latency === null) throw new Error(`dnsperf report has no latency:\n${report}`);
  return {
    queriesSent: number(report, /Queries sent:\s+(\d+)/, 'queries sent'),
    queriesCompleted: number(report, /Queries completed:\s+(\d+)/, 'queries completed'),
    queriesLost: number(report, /Queries lost:\s+(\d+)/, 'queries lost'),
    qps: number(report, /Queries per second:\s+([\d.]+)/, 'queries per second'),
    latencyAvgMs: Number(latency[1]) * 1000,
    latencyMinMs: Number(latency[2]) * 1000,
    latencyMaxMs: Number(latency[3]) * 1000,
    latencyStdDevMs: number(report, /Latency StdDev \(s\):\s+([\d.]+)/, 'latency stddev') * 1000,
    responseBytes: number(report, /response (\d+)/, 'response size'),
    responseCodes: /Response codes:\s+(.*)/.exec(report)?.[1]?.trim() ?? '',
  };
}

/** Runs dnsperf to completion (bounded: killed 30 s after its time limit) and parses its report. */
export async function runDnsperf(group: ProcessGroup, run: DnsperfRun): Promise<DnsperfResult> {
  const args = [
    '-s', '127.0.0.1', '-p', String(run.port), '-m', run.mode, '-d', run.queryFile,
    '-l', String(run.durationSec), '-c', String(run.clients), '-q', String(run.outstanding),
    // EDNS0 on every query, as resolvers send them; 2 s until a query counts as lost.
    '-e', '-t', '2',
  ];
  const dnsperf = group.start(`dnsperf ${run.mode}`, 'dnsperf', args);
  const timer = setTimeout(() => void dnsperf.stop(1000), (run.durationSec + 30) * 1000);
  await dnsperf.exited;
  await dnsperf.closed;
  clearTimeout(timer);
  if (dnsperf.exitStatus !== 'exited with code 0') throw new Error(`dnsperf ${args.join(' ')} ${dnsperf.exitStatus}\n${dnsperf.describe()}`);
  return parseDnsperf(dnsperf.stdout);
}
