import { FAR_PATHS, type PathName } from './bench-options.js';
import type { CpuSeconds, CpuShares } from './proc-stats.js';
import type { DownloadResult, ParallelDownloads, TransferResult } from './download.js';
import type { WrkResult } from './wrk.js';

/** Display names, in table order. */
export const PATH_LABELS: Record<PathName, string> = {
  direct: 'direct',
  nginx: 'nginx hop',
  nginx2: '2 nginx hops',
  node2: '2 Node pipes',
  udns: 'udns (raw)',
  'udns-h2': 'udns (http2 mux)',
  'udns-ws': 'udns (ws)',
  'udns-inspect': 'udns (inspector on)',
  'udns-auth': 'udns (auth)',
  ssh: 'ssh -R',
  'udns-far': 'udns far',
  'ssh-far': 'ssh -R far',
};

/** A far path's downloads: one big one, then several at once. */
export interface FarResult {
  /** Delay the proxy added in each direction, in ms. */
  oneWayDelayMs: number;
  single?: DownloadResult;
  /** CPU seconds each process used during the single download. */
  cpuSecondsDuringSingle?: CpuSeconds;
  parallel?: ParallelDownloads;
}

/** Everything measured on one path; `error` set when the path could not be measured fully. */
export interface PathResult {
  path: PathName;
  label: string;
  /** How this path was set up, where that matters to read its numbers (nginx's workers). */
  setup?: string;
  /** 1, 5 and 15 minute load averages just before this path started. */
  loadAvgAtStart: number[];
  /** The measured wrk runs' medians (see combineWrkRounds); `wrkRounds` has every round. */
  wrk?: WrkResult;
  wrkRounds?: WrkResult[];
  /** CPU each process used during the measured wrk run, as a share of one core. */
  cpuDuringWrk?: CpuShares;
  /** CPU seconds each process used during the measured wrk run (wrk itself not counted). */
  cpuSecondsDuringWrk?: CpuSeconds;
  download?: DownloadResult;
  /** CPU each process used during the bulk download (the client is this process, not counted). */
  cpuDuringDownload?: CpuShares;
  cpuSecondsDuringDownload?: CpuSeconds;
  upload?: TransferResult;
  cpuSecondsDuringUpload?: CpuSeconds;
  far?: FarResult;
  error?: string;
}

/** One goal of issue 12; `pass` is null when a path it needs was not measured. */
export interface GoalResult {
  goal: string;
  pass: boolean | null;
  detail: string;
}

/** One path relative to a reference: req/s, MB/s and CPU as multiples, p99 as a multiple. */
export interface Relative {
  path: PathName;
  rps?: number;
  p99?: number;
  download?: number;
  upload?: number;
}

/** Ratios, goals and flags derived from the results of one run. */
export interface Analysis {
  vsNginx: Relative[];
  vsSsh: Relative[];
  vsDirect: Relative[];
  /** The frame mux against the HTTP/2 mux (udns against udns-h2), when both ran. */
  vsHttp2Mux: Relative[];
  /**
   * udns's near paths against the two-process references: two nginx hops in a row and two bare
   * Node pipes in a row. One nginx hop is one process between visitor and origin; a tunnel is
   * two, and on one machine they share its cores: these say how close udns is to that ceiling.
   */
  vsTwoNginxHops: Relative[];
  vsTwoNodePipes: Relative[];
  /** udns far against ssh -R far: the single download and the concurrent ones' total. */
  farVsSsh?: { single?: number; aggregate?: number };
  goals: GoalResult[];
  /** Runs whose numbers must not be trusted as they stand (errors, short transfers, failures). */
  flags: string[];
}

/** The issue's thresholds, in one place. */
export const GOALS = {
  rpsVsNginx: 0.85,
  p99VsNginx: 1.5,
  downloadVsSsh: 1.0,
  farSingleMbPerSec: 80,
  /** Slowest over fastest of the concurrent far downloads: the bench's reading of "fairly". */
  farFairness: 0.8,
} as const;

const MIB = 1024 * 1024;

export const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a !== undefined && b !== undefined && b > 0 ? a / b : undefined;

const okRate = (transfer: TransferResult | undefined): number | undefined => (transfer?.ok ? transfer.mbPerSec : undefined);

function relative(result: PathResult, base: PathResult): Relative {
  return {
    path: result.path,
    rps: ratio(result.wrk?.requestsPerSec, base.wrk?.requestsPerSec),
    p99: ratio(result.wrk?.latencyMs.p99, base.wrk?.latencyMs.p99),
    download: ratio(okRate(result.download), okRate(base.download)),
    upload: ratio(okRate(result.upload), okRate(base.upload)),
  };
}

function flagsOf(result: PathResult): string[] {
  const flags: string[] = [];
  if (result.error) flags.push(`${result.label}: FAILED: ${result.error.split('\n')[0]}`);
  const wrk = result.wrk;
  if (wrk && wrk.errorCount > 0) {
    const s = wrk.socketErrors;
    flags.push(`${result.label}: wrk saw ${wrk.non2xx} non-2xx/3xx responses and socket errors connect ${s.connect}, read ${s.read}, write ${s.write}, timeout ${s.timeout}`);
  }
  const short = (what: string, transfer: TransferResult | undefined): void => {
    if (transfer && !transfer.ok) flags.push(`${result.label}: ${what} moved ${transfer.bytes} of ${transfer.expectedBytes} bytes, status ${transfer.status}`);
  };
  short('download', result.download);
  short('upload', result.upload);
  short('single far download', result.far?.single);
  result.far?.parallel?.downloads.forEach((d, i) => short(`concurrent far download ${i + 1}`, d));
  return flags;
}

/**
 * CPU microseconds per unit of work for each process: `cpuSeconds` spread over `units`
 * (requests, MiB). Undefined when either is missing or there was no work.
 */
export function perUnit(cpuSeconds: CpuSeconds | undefined, units: number | undefined): Record<string, number> | undefined {
  if (!cpuSeconds || !units || units <= 0) return undefined;
  // Processes of one role (a path's two nginx hops) add up.
  const costs: Record<string, number> = {};
  for (const [name, seconds] of Object.entries(cpuSeconds)) {
    const role = roleOf(name);
    costs[role] = (costs[role] ?? 0) + (seconds * 1e6) / units;
  }
  return costs;
}

/** A process's role without the path label udns-path.ts appends: `edge (udns-raw)` is `edge`. */
export function roleOf(processName: string): string {
  return processName.replace(/ \([\w-]+\)$/, '');
}

/** Processes that are not the hop being measured: the origin serves every path, the proxy fakes distance. */
const NOT_THE_HOP = new Set(['origin', 'delay proxy']);

/** The hop's own CPU per unit: every process but the origin and the delay proxy. */
export function hopTotal(costs: Record<string, number> | undefined): number | undefined {
  if (!costs) return undefined;
  const entries = Object.entries(costs).filter(([role]) => !NOT_THE_HOP.has(role));
  return entries.length === 0 ? undefined : entries.reduce((sum, [, value]) => sum + value, 0);
}

/** Computes ratios against nginx, ssh -R and direct, the issue's goals, and what must be flagged. */
export function analyse(results: PathResult[]): Analysis {
  const find = (path: PathName): PathResult | undefined => results.find((r) => r.path === path);
  const near = results.filter((r) => !FAR_PATHS.includes(r.path));
  const direct = find('direct');
  const nginx = find('nginx');
  const ssh = find('ssh');
  const udns = find('udns');
  const udnsFar = find('udns-far');
  const udnsH2 = find('udns-h2');
  const sshFar = find('ssh-far');
  const nginx2 = find('nginx2');
  const node2 = find('node2');
  const udnsNear = near.filter((r) => r.path.startsWith('udns'));
  const flags = results.flatMap(flagsOf);
  const flagged = (...paths: Array<PathResult | undefined>): string => (paths.some((r) => r && flagsOf(r).length > 0) ? ' (flagged run)' : '');
  const udnsName = udns?.label ?? PATH_LABELS.udns;

  const goals: GoalResult[] = [];
  const goal = (name: string, value: number | undefined, pass: (value: number) => boolean, detail: (value: number) => string, missing = 'not measured'): void => {
    goals.push(value === undefined ? { goal: name, pass: null, detail: missing } : { goal: name, pass: pass(value), detail: detail(value) });
  };
  // What the two-process references reached on the same goal: the ceiling for any tunnel here.
  const ceiling = (pick: (r: PathResult) => number | undefined): string => {
    const reached = [nginx2, node2].flatMap((r) => {
      const value = r && nginx ? ratio(pick(r), pick(nginx)) : undefined;
      return value === undefined ? [] : [`${r!.label} ${times(value)}`];
    });
    return reached.length === 0 ? '' : `; ${reached.join(', ')}`;
  };
  const rps = ratio(udns?.wrk?.requestsPerSec, nginx?.wrk?.requestsPerSec);
  goal(`${udnsName} req/s >= ${GOALS.rpsVsNginx}x nginx hop`, rps, (v) => v >= GOALS.rpsVsNginx,
    (v) => `${times(v)} (${fmt(udns?.wrk?.requestsPerSec)} vs ${fmt(nginx?.wrk?.requestsPerSec)}${ceiling((r) => r.wrk?.requestsPerSec)})${flagged(udns, nginx)}`);
  const p99 = ratio(udns?.wrk?.latencyMs.p99, nginx?.wrk?.latencyMs.p99);
  goal(`${udnsName} p99 <= ${GOALS.p99VsNginx}x nginx hop`, p99, (v) => v <= GOALS.p99VsNginx,
    (v) => `${times(v)} (${fmt(udns?.wrk?.latencyMs.p99, 2)} ms vs ${fmt(nginx?.wrk?.latencyMs.p99, 2)} ms${ceiling((r) => r.wrk?.latencyMs.p99)})${flagged(udns, nginx)}`);
  const download = ratio(okRate(udns?.download), okRate(ssh?.download));
  goal(`${udnsName} download >= ${GOALS.downloadVsSsh.toFixed(1)}x ssh -R`, download, (v) => v >= GOALS.downloadVsSsh,
    (v) => `${times(v)} (${rate(udns?.download?.mbPerSec)} vs ${rate(ssh?.download?.mbPerSec)} MB/s)${flagged(udns, ssh)}`, 'not measured (or a download was short)');
  const farSingle = okRate(udnsFar?.far?.single);
  const rtt = udnsFar?.far ? ` (${2 * udnsFar.far.oneWayDelayMs} ms RTT)` : '';
  goal(`udns far${rtt} one download >= ${GOALS.farSingleMbPerSec} MB/s`, farSingle, (v) => v >= GOALS.farSingleMbPerSec,
    (v) => `${rate(v)} MB/s over ${((udnsFar?.far?.single?.bytes ?? 0) / MIB).toFixed(0)} MiB${flagged(udnsFar)}`, 'not measured (or the download was short)');
  const parallel = udnsFar?.far?.parallel;
  const fairness = parallel && parallel.downloads.every((d) => d.ok) ? parallel.fairness : undefined;
  goal(`udns far: ${parallel ? `${parallel.downloads.length} downloads` : 'downloads'} at once share fairly (slowest/fastest >= ${GOALS.farFairness})`, fairness, (v) => v >= GOALS.farFairness,
    (v) => `${v.toFixed(2)} (${parallel!.downloads.map((d) => rate(d.mbPerSec)).join(', ')} MB/s)${flagged(udnsFar)}`, 'not measured (or a download was short)');

  const farSsh = sshFar?.far;
  return {
    vsNginx: nginx ? near.filter((r) => r !== nginx).map((r) => relative(r, nginx)) : [],
    vsSsh: ssh ? near.filter((r) => r !== ssh && r !== direct).map((r) => relative(r, ssh)) : [],
    vsDirect: direct ? near.filter((r) => r !== direct).map((r) => relative(r, direct)) : [],
    vsHttp2Mux: udns && udnsH2 ? [relative(udns, udnsH2)] : [],
    vsTwoNginxHops: nginx2 ? udnsNear.map((r) => relative(r, nginx2)) : [],
    vsTwoNodePipes: node2 ? udnsNear.map((r) => relative(r, node2)) : [],
    farVsSsh: udnsFar?.far && farSsh
      ? { single: ratio(farSingle, okRate(farSsh.single)), aggregate: ratio(udnsFar.far.parallel?.aggregateMbPerSec, farSsh.parallel?.aggregateMbPerSec) }
      : undefined,
    goals,
    flags,
  };
}

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined ? '-' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** MB/s: whole numbers, one decimal below 100 so that slow paths still show a difference. */
function rate(value: number | undefined): string {
  return fmt(value, value !== undefined && value < 100 ? 1 : 0);
}

function times(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(2)}x`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
}

/** Column order of the CPU tables: the hops' processes, then the origin and the delay proxy. */
const ROLE_ORDER = ['edge', 'agent', 'nginx', 'pipe relay', 'sshd', 'ssh -R', 'origin', 'delay proxy'];

/** A table of CPU µs per unit, one column per process role seen in any row, then the hop's total. */
function cpuTable(title: string, rows: Array<{ label: string; costs: Record<string, number> | undefined }>): string[] {
  const present = rows.filter((r) => r.costs && Object.keys(r.costs).length > 0);
  if (present.length === 0) return [];
  const rank = (role: string): number => (ROLE_ORDER.includes(role) ? ROLE_ORDER.indexOf(role) : NOT_THE_HOP.has(role) ? 100 : 50);
  const roles = [...new Set(present.flatMap((r) => Object.keys(r.costs!)))].sort((a, b) => rank(a) - rank(b));
  const widths = [12, ...roles.map((role) => Math.max(7, role.length)), 9];
  const lines = ['', title, row(['path', ...roles, 'hop total'], widths)];
  for (const r of present) {
    const total = hopTotal(r.costs);
    lines.push(row([r.label, ...roles.map((role) => fmt(r.costs![role], 1)), fmt(total, 1)], widths));
  }
  return lines;
}

function ratioTable(title: string, rows: Relative[]): string[] {
  if (rows.length === 0) return [];
  const widths = [12, 8, 8, 8, 8];
  return ['', row([title, 'req/s', 'p99', 'download', 'upload'], widths),
    ...rows.map((r) => row([PATH_LABELS[r.path], times(r.rps), times(r.p99), times(r.download), times(r.upload)], widths))];
}

/** Renders the results, CPU costs, far downloads, ratios, goals and flags as plain text. */
export function formatReport(results: PathResult[], analysis: Analysis): string {
  const near = results.filter((r) => !FAR_PATHS.includes(r.path));
  const far = results.filter((r) => FAR_PATHS.includes(r.path));
  const lines: string[] = [];
  if (near.length > 0) {
    const widths = [12, 9, 7, 7, 8, 6, 9, 9, 5];
    lines.push(row(['path', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'down MB/s', 'up MB/s', 'load1'], widths));
    for (const r of near) {
      const w = r.wrk;
      const transfer = (t: TransferResult | undefined): string => (t ? `${rate(t.mbPerSec)}${t.ok ? '' : ' !'}` : '-');
      lines.push(row([
        r.label + (r.error ? ' !' : ''),
        fmt(w?.requestsPerSec),
        fmt(w?.latencyMs.p50, 2),
        fmt(w?.latencyMs.p99, 2),
        fmt(w?.latencyMs.max, 1),
        w ? `${w.errorCount}${w.errorCount > 0 ? ' !' : ''}` : '-',
        transfer(r.download),
        transfer(r.upload),
        (r.loadAvgAtStart[0] ?? 0).toFixed(2),
      ], widths));
    }
    const sizes = (pick: (r: PathResult) => TransferResult | undefined): string => {
      const bytes = near.map(pick).find((t) => t)?.expectedBytes;
      return bytes === undefined ? '-' : `${(bytes / MIB).toFixed(0)} MiB`;
    };
    lines.push(`(wrk -t1 on 1 KiB answers; one download of ${sizes((r) => r.download)}, one upload of ${sizes((r) => r.upload)}; MB = 10^6 bytes)`);
    for (const r of near.filter((r) => r.setup)) lines.push(`(${r.label}: ${r.setup})`);
    lines.push(...cpuTable('CPU µs per request during wrk (wrk not counted):',
      near.map((r) => ({ label: r.label, costs: perUnit(r.cpuSecondsDuringWrk, r.wrk?.requests) }))));
    lines.push(...cpuTable('CPU µs per MiB downloaded (the counting client, this process, not counted):',
      near.map((r) => ({ label: r.label, costs: perUnit(r.cpuSecondsDuringDownload, r.download?.ok ? r.download.bytes / MIB : undefined) }))));
    lines.push(...cpuTable('CPU µs per MiB uploaded:',
      near.map((r) => ({ label: r.label, costs: perUnit(r.cpuSecondsDuringUpload, r.upload?.ok ? r.upload.bytes / MIB : undefined) }))));
  }
  if (far.length > 0) {
    const delay = far.find((r) => r.far)?.far?.oneWayDelayMs;
    const widths = [12, 10, 26, 9, 10];
    lines.push('', `far: the tunnel's connection (agent to edge, ssh to sshd) through a delay proxy, ${delay ?? '?'} ms each way`);
    lines.push(row(['path', 'one MB/s', 'at once, each MB/s', 'min/max', 'total MB/s'], widths));
    for (const r of far) {
      const single = r.far?.single;
      const parallel = r.far?.parallel;
      lines.push(row([
        r.label + (r.error ? ' !' : ''),
        single ? `${rate(single.mbPerSec)}${single.ok ? '' : ' !'}` : '-',
        parallel ? parallel.downloads.map((d) => `${rate(d.mbPerSec)}${d.ok ? '' : '!'}`).join(' ') : '-',
        parallel ? parallel.fairness.toFixed(2) : '-',
        parallel ? rate(parallel.aggregateMbPerSec) : '-',
      ], widths));
    }
    const single = far.find((r) => r.far?.single)?.far?.single;
    const each = far.find((r) => r.far?.parallel)?.far?.parallel;
    lines.push(`(one download of ${single ? (single.expectedBytes / MIB).toFixed(0) : '-'} MiB, then ${each?.downloads.length ?? '-'} of ${each?.downloads[0] ? (each.downloads[0].expectedBytes / MIB).toFixed(0) : '-'} MiB at once)`);
    lines.push(...cpuTable('CPU µs per MiB during the far single download:',
      far.map((r) => ({ label: r.label, costs: perUnit(r.far?.cpuSecondsDuringSingle, r.far?.single?.ok ? r.far.single.bytes / MIB : undefined) }))));
  }
  lines.push(...ratioTable('vs nginx hop', analysis.vsNginx));
  lines.push(...ratioTable('vs ssh -R', analysis.vsSsh));
  lines.push(...ratioTable('vs direct', analysis.vsDirect));
  lines.push(...ratioTable('frame mux vs http2 mux', analysis.vsHttp2Mux));
  lines.push(...ratioTable('vs 2 nginx hops', analysis.vsTwoNginxHops));
  lines.push(...ratioTable('vs 2 Node pipes', analysis.vsTwoNodePipes));
  if (analysis.farVsSsh) {
    lines.push('', `udns far vs ssh -R far: one download ${times(analysis.farVsSsh.single)}, concurrent total ${times(analysis.farVsSsh.aggregate)}`);
  }
  lines.push('', 'goals (issue 12):');
  for (const g of analysis.goals) lines.push(`  ${g.pass === null ? 'n/a ' : g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.detail}`);
  if (analysis.flags.length > 0) {
    lines.push('', 'FLAGGED (numbers above are not clean):');
    for (const flag of analysis.flags) lines.push(`  ! ${flag}`);
  }
  return lines.join('\n');
}
