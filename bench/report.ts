import type { PathName } from './bench-options.js';
import type { CpuShares } from './proc-stats.js';
import type { DownloadResult } from './download.js';
import type { WrkResult } from './wrk.js';

/** Display names, in table order. */
export const PATH_LABELS: Record<PathName, string> = {
  direct: 'direct',
  udns: 'udns (raw)',
  'udns-ws': 'udns (ws)',
  ssh: 'ssh -R',
};

/** Everything measured on one path; `error` set when the path could not be measured fully. */
export interface PathResult {
  path: PathName;
  label: string;
  /** 1, 5 and 15 minute load averages just before this path started. */
  loadAvgAtStart: number[];
  wrk?: WrkResult;
  /** CPU each process used during the measured wrk run, as a share of one core. */
  cpuDuringWrk?: CpuShares;
  download?: DownloadResult;
  /** CPU each process used during the bulk download (the client is this process, not counted). */
  cpuDuringDownload?: CpuShares;
  error?: string;
}

/** One informational target; `pass` is null when a path it needs was not measured. */
export interface TargetResult {
  target: string;
  pass: boolean | null;
  detail: string;
}

/** Ratios, targets and flags derived from the results of one run. */
export interface Analysis {
  /** Per path, relative to direct: req/s and MB/s as fractions, p99 as a multiple. */
  vsDirect: Array<{ path: PathName; rps?: number; p99?: number; mbPerSec?: number }>;
  /** Per udns variant, relative to ssh -R (same shape). */
  vsSsh: Array<{ path: PathName; rps?: number; p99?: number; mbPerSec?: number }>;
  targets: TargetResult[];
  /** Runs whose numbers must not be trusted as they stand (errors, short downloads, failures). */
  flags: string[];
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a !== undefined && b !== undefined && b > 0 ? a / b : undefined;

function relative(result: PathResult, base: PathResult | undefined) {
  return {
    path: result.path,
    rps: ratio(result.wrk?.requestsPerSec, base?.wrk?.requestsPerSec),
    p99: ratio(result.wrk?.latencyMs.p99, base?.wrk?.latencyMs.p99),
    mbPerSec: ratio(result.download?.ok ? result.download.mbPerSec : undefined, base?.download?.ok ? base.download.mbPerSec : undefined),
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
  const download = result.download;
  if (download && !download.ok) flags.push(`${result.label}: download got ${download.bytes} of ${download.expectedBytes} bytes, status ${download.status}`);
  return flags;
}

/** Computes ratios against direct and ssh -R, the targets, and what must be flagged. */
export function analyse(results: PathResult[]): Analysis {
  const find = (path: PathName): PathResult | undefined => results.find((r) => r.path === path);
  const direct = find('direct');
  const ssh = find('ssh');
  const udnsResults = results.filter((r) => r.path === 'udns' || r.path === 'udns-ws');
  const flags = results.flatMap(flagsOf);
  const flagged = (r: PathResult | undefined): string => (r && flagsOf(r).length > 0 ? ' (flagged run)' : '');

  const targets: TargetResult[] = [];
  for (const udns of udnsResults) {
    const name = udns.label;
    const rps = udns.wrk?.requestsPerSec;
    const p99 = udns.wrk?.latencyMs.p99;
    const sshRps = ssh?.wrk?.requestsPerSec;
    const sshP99 = ssh?.wrk?.latencyMs.p99;
    const share = ratio(udns.download?.ok ? udns.download.mbPerSec : undefined, direct?.download?.ok ? direct.download.mbPerSec : undefined);
    const note = flagged(udns) || flagged(ssh);
    targets.push(
      rps !== undefined && sshRps !== undefined
        ? { target: `${name} ahead of ssh -R on req/s`, pass: rps > sshRps, detail: `${fmt(rps)} vs ${fmt(sshRps)}${note}` }
        : { target: `${name} ahead of ssh -R on req/s`, pass: null, detail: 'not measured' },
      p99 !== undefined && sshP99 !== undefined
        ? { target: `${name} ahead of ssh -R on p99`, pass: p99 < sshP99, detail: `${p99.toFixed(2)} ms vs ${sshP99.toFixed(2)} ms${note}` }
        : { target: `${name} ahead of ssh -R on p99`, pass: null, detail: 'not measured' },
      share !== undefined
        ? { target: `${name} >= 25% of direct MB/s`, pass: share >= 0.25, detail: `${pct(share)}${flagged(udns) || flagged(direct)}` }
        : { target: `${name} >= 25% of direct MB/s`, pass: null, detail: 'not measured (or a download was short)' },
      p99 !== undefined
        ? { target: `${name} p99 < 10 ms`, pass: p99 < 10, detail: `${p99.toFixed(2)} ms${flagged(udns)}` }
        : { target: `${name} p99 < 10 ms`, pass: null, detail: 'not measured' },
    );
  }
  return {
    vsDirect: direct ? results.filter((r) => r !== direct).map((r) => relative(r, direct)) : [],
    vsSsh: ssh ? udnsResults.map((r) => relative(r, ssh)) : [],
    targets,
    flags,
  };
}

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined ? '-' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(value: number | undefined): string {
  return value === undefined ? '-' : `${(value * 100).toFixed(0)}%`;
}

function times(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(2)}x`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
}

/** Renders the results table, the ratios, the targets and the flags as plain text. */
export function formatReport(results: PathResult[], analysis: Analysis): string {
  const widths = [12, 9, 8, 8, 8, 7, 8, 13, 6];
  const lines = [row(['path', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'MB/s', 'download', 'load1'], widths)];
  for (const r of results) {
    const w = r.wrk;
    const d = r.download;
    const download = d ? `${(d.bytes / 1024 / 1024).toFixed(0)} MiB ${d.ok ? 'ok' : 'SHORT'}` : '-';
    lines.push(row([
      r.label + (r.error ? ' !' : ''),
      fmt(w?.requestsPerSec),
      fmt(w?.latencyMs.p50, 2),
      fmt(w?.latencyMs.p99, 2),
      fmt(w?.latencyMs.max, 2),
      w ? `${w.errorCount}${w.errorCount > 0 ? ' !' : ''}` : '-',
      fmt(d?.mbPerSec),
      download,
      (r.loadAvgAtStart[0] ?? 0).toFixed(2),
    ], widths));
  }
  const cpuLines = (title: string, pick: (r: PathResult) => CpuShares | undefined): string[] => {
    const rows = results.filter((r) => Object.keys(pick(r) ?? {}).length > 0).map((r) => {
      const shares = Object.entries(pick(r)!).map(([name, share]) => `${name.replace(/ \(udns-\w+\)$/, '')} ${share.toFixed(2)}`);
      return `  ${r.label.padEnd(12)} ${shares.join(', ')}`;
    });
    return rows.length > 0 ? ['', title, ...rows] : [];
  };
  lines.push(...cpuLines('CPU during the measured wrk run (1.00 = one core; wrk not counted):', (r) => r.cpuDuringWrk));
  lines.push(...cpuLines('CPU during the download (the counting client, this process, not counted):', (r) => r.cpuDuringDownload));
  const ratioWidths = [22, 8, 10, 8];
  if (analysis.vsDirect.length > 0) {
    lines.push('', row(['vs direct', 'req/s', 'p99', 'MB/s'], ratioWidths));
    for (const r of analysis.vsDirect) lines.push(row([PATH_LABELS[r.path], pct(r.rps), times(r.p99), pct(r.mbPerSec)], ratioWidths));
  }
  if (analysis.vsSsh.length > 0) {
    lines.push('', row(['vs ssh -R', 'req/s', 'p99', 'MB/s'], ratioWidths));
    for (const r of analysis.vsSsh) lines.push(row([PATH_LABELS[r.path], times(r.rps), times(r.p99), times(r.mbPerSec)], ratioWidths));
  }
  if (analysis.targets.length > 0) {
    lines.push('', 'targets (informational):');
    for (const t of analysis.targets) lines.push(`  ${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.detail}`);
  }
  if (analysis.flags.length > 0) {
    lines.push('', 'FLAGGED (numbers above are not clean):');
    for (const flag of analysis.flags) lines.push(`  ! ${flag}`);
  }
  return lines.join('\n');
}
