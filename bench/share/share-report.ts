import type { DownloadResult } from '../download.js';
import type { CpuShares } from '../proc-stats.js';

/** The three ways the benchmark downloads the file, in table order. */
export type SharePathName = 'static' | 'share' | 'share-zip';

/** One timed download and the CPU spent on it, 1.00 = one core. */
export interface ShareSample extends DownloadResult {
  /** Server-side processes (the static server, or edge and agent). */
  cpu: CpuShares;
  /** The counting client: this benchmark process. */
  clientCpu: number;
}

/** Every download of one path; `error` set when the path could not be measured fully. */
export interface SharePathResult {
  path: SharePathName;
  label: string;
  /** Request path on the server, the same file for every path. */
  url: string;
  samples: ShareSample[];
  error?: string;
}

/** Best and median MB/s of one path, over its complete downloads only. */
export interface SharePathSummary {
  path: SharePathName;
  okRuns: number;
  best?: number;
  median?: number;
  /** udns / baseline: best against best and median against median. */
  bestVsBaseline?: number;
  medianVsBaseline?: number;
  /** CPU of the run whose rate was the median. */
  medianCpu?: CpuShares;
  medianClientCpu?: number;
}

function median(sorted: number[]): number | undefined {
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Best, median and ratios against the `static` baseline of the same run. */
export function summarise(results: SharePathResult[]): SharePathSummary[] {
  const summaries = results.map((result): SharePathSummary => {
    const ok = result.samples.filter((sample) => sample.ok).sort((a, b) => a.mbPerSec - b.mbPerSec);
    const rates = ok.map((sample) => sample.mbPerSec);
    const medianSample = ok[Math.floor((ok.length - 1) / 2)];
    return {
      path: result.path,
      okRuns: ok.length,
      best: rates.at(-1),
      median: median(rates),
      medianCpu: medianSample?.cpu,
      medianClientCpu: medianSample?.clientCpu,
    };
  });
  const baseline = summaries.find((s) => s.path === 'static');
  const ratio = (a?: number, b?: number): number | undefined => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  for (const summary of summaries) {
    summary.bestVsBaseline = ratio(summary.best, baseline?.best);
    summary.medianVsBaseline = ratio(summary.median, baseline?.median);
  }
  return summaries;
}

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined ? '-' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
}

/** Short process names for the CPU column ("edge (share-raw)" → "edge"). */
const shortName = (name: string): string => name.replace(/ \([\w-]+\)$/, '');

/** Renders the table, the per-run rates and whatever must be flagged, as plain text. */
export function formatShareReport(results: SharePathResult[], summaries: SharePathSummary[]): string {
  const widths = [20, 9, 11, 10, 12, 7, 0];
  const lines = [row(['path', 'MB/s best', 'MB/s median', 'best/base', 'median/base', 'ok', 'CPU in the median run (1.00 = one core)'], widths)];
  for (const result of results) {
    const s = summaries.find((summary) => summary.path === result.path)!;
    const cpu = s.medianCpu
      ? [...Object.entries(s.medianCpu).map(([name, share]) => `${shortName(name)} ${share.toFixed(2)}`), `client ${fmt(s.medianClientCpu, 2)}`].join(', ')
      : '-';
    lines.push(row([
      result.label + (result.error ? ' !' : ''),
      fmt(s.best),
      fmt(s.median),
      fmt(s.bestVsBaseline, 3),
      fmt(s.medianVsBaseline, 3),
      `${s.okRuns}/${result.samples.length}`,
      cpu,
    ], widths));
  }
  lines.push('', 'every run, MB/s (in order):');
  for (const result of results) lines.push(`  ${result.label.padEnd(20)} ${result.samples.map((sample) => `${fmt(sample.mbPerSec)}${sample.ok ? '' : ' SHORT'}`).join(', ') || '-'}`);
  const flags = results.flatMap((result) => [
    ...(result.error ? [`${result.label}: FAILED: ${result.error.split('\n')[0]}`] : []),
    ...result.samples.filter((sample) => !sample.ok).map((sample) => `${result.label}: got ${sample.bytes} bytes (expected ${sample.expectedBytes}), status ${sample.status}`),
  ]);
  if (flags.length > 0) lines.push('', 'FLAGGED (numbers above are not clean):', ...flags.map((flag) => `  ! ${flag}`));
  return lines.join('\n');
}
