import { settlesWithin, type ProcessGroup } from './processes.js';

/** What one wrk run reported, latencies in milliseconds. */
export interface WrkResult {
  requestsPerSec: number;
  /** Completed requests and the seconds wrk measured over. */
  requests: number;
  durationSec: number;
  latencyMs: { avg: number; max: number; p50: number; p75: number; p90: number; p99: number };
  /** Responses with a status outside 2xx/3xx (wrk counts them together; the origin sends only 200). */
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** non2xx plus every socket error: anything but 0 means the run must be flagged. */
  errorCount: number;
}

/** A wrk run against one URL. */
export interface WrkRequest {
  url: string;
  /** Host header to send (udns routes by it); omitted means wrk's default (the URL's host). */
  host?: string;
  connections: number;
  durationSec: number;
  /** More header lines (`Name: value`), e.g. Authorization for the `udns-auth` path. */
  headers?: string[];
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(value: string, unit: string): number {
  const scale = UNIT_MS[unit];
  if (scale === undefined) throw new Error(`unknown wrk time unit ${JSON.stringify(unit)}`);
  return Number(value) * scale;
}

/** Parses wrk 4.x output (with `--latency`). Throws when the summary lines are missing. */
export function parseWrkOutput(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(text);
  const latency = /^\s*Latency\s+([\d.]+)(us|ms|s|m|h)\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m|h)/m.exec(text);
  if (!rps || !total || !latency) throw new Error(`could not parse wrk output:\n${text}`);
  const percentile = (p: number): number => {
    const match = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)`, 'm').exec(text);
    if (!match) throw new Error(`wrk output has no ${p}% latency (was --latency passed?):\n${text}`);
    return toMs(match[1]!, match[2]!);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = {
    connect: Number(socket?.[1] ?? 0),
    read: Number(socket?.[2] ?? 0),
    write: Number(socket?.[3] ?? 0),
    timeout: Number(socket?.[4] ?? 0),
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(total[1]),
    durationSec: toMs(total[2]!, total[3]!) / 1000,
    latencyMs: {
      avg: toMs(latency[1]!, latency[2]!),
      max: toMs(latency[3]!, latency[4]!),
      p50: percentile(50),
      p75: percentile(75),
      p90: percentile(90),
      p99: percentile(99),
    },
    non2xx,
    socketErrors,
    errorCount: non2xx + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
  };
}

/**
 * Runs `wrk -t1 -c<n> -d<s>s --latency` as a tracked child and parses its report. The child is
 * killed if it overruns its duration by more than 30 s.
 */
export async function runWrk(group: ProcessGroup, request: WrkRequest): Promise<WrkResult> {
  const args = ['-t1', `-c${request.connections}`, `-d${request.durationSec}s`, '--latency', '--timeout', '5s'];
  if (request.host) args.push('-H', `Host: ${request.host}`);
  for (const header of request.headers ?? []) args.push('-H', header);
  args.push(request.url);
  const wrk = group.start('wrk', 'wrk', args);
  if (!(await settlesWithin(wrk.closed, (request.durationSec + 30) * 1000))) {
    await wrk.stop(1000);
    throw new Error(`wrk did not finish within ${request.durationSec + 30} s\n${wrk.describe()}`);
  }
  await wrk.exited;
  if (wrk.exitStatus !== 'exited with code 0') throw new Error(`wrk ${wrk.exitStatus}\n${wrk.describe()}`);
  return parseWrkOutput(wrk.stdout);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * One result from several rounds of wrk on the same path, taken in turn with the other paths'
 * rounds: rates and percentiles are the rounds' medians (a round that a neighbour's burst on this
 * shared machine slowed moves the median least), counts and errors add up, max is the worst.
 */
export function combineWrkRounds(rounds: readonly WrkResult[]): WrkResult {
  if (rounds.length === 0) throw new Error('combineWrkRounds needs at least one round');
  if (rounds.length === 1) return rounds[0]!;
  const sum = (pick: (r: WrkResult) => number): number => rounds.reduce((total, r) => total + pick(r), 0);
  const mid = (pick: (r: WrkResult) => number): number => median(rounds.map(pick));
  return {
    requestsPerSec: mid((r) => r.requestsPerSec),
    requests: sum((r) => r.requests),
    durationSec: sum((r) => r.durationSec),
    latencyMs: {
      avg: mid((r) => r.latencyMs.avg),
      max: Math.max(...rounds.map((r) => r.latencyMs.max)),
      p50: mid((r) => r.latencyMs.p50),
      p75: mid((r) => r.latencyMs.p75),
      p90: mid((r) => r.latencyMs.p90),
      p99: mid((r) => r.latencyMs.p99),
    },
    non2xx: sum((r) => r.non2xx),
    socketErrors: {
      connect: sum((r) => r.socketErrors.connect),
      read: sum((r) => r.socketErrors.read),
      write: sum((r) => r.socketErrors.write),
      timeout: sum((r) => r.socketErrors.timeout),
    },
    errorCount: sum((r) => r.errorCount),
  };
}
