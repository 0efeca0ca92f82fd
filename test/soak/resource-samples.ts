import type { ProcessStats } from '../helpers/process-stats.js';

/** One reading of the edge's RSS and fds, `atMs` after the load started. */
export interface Sample extends ProcessStats {
  atMs: number;
}

/** The comparison the soak passes or fails on. */
export interface Growth {
  /** Averages over the window right after warm-up, and over the last window. */
  baseline: ProcessStats;
  final: ProcessStats;
  /** (final − baseline) / baseline, per figure. */
  rssGrowth: number;
  fdGrowth: number;
  baselineSamples: number;
  finalSamples: number;
}

/**
 * Compares the average of the samples in [warmUpMs, warmUpMs + windowMs) with the average of
 * the last `windowMs` of the run. Averages, not single readings: a sample lands on a random
 * moment of the garbage collector's cycle and of the visitors' connections.
 */
export function growthOf(samples: readonly Sample[], warmUpMs: number, windowMs: number, endMs: number): Growth {
  const within = (from: number, to: number): Sample[] => samples.filter((sample) => sample.atMs >= from && sample.atMs < to);
  const baselineSamples = within(warmUpMs, warmUpMs + windowMs);
  const finalSamples = within(endMs - windowMs, endMs + 1);
  const baseline = average(baselineSamples);
  const final = average(finalSamples);
  return {
    baseline, final,
    rssGrowth: (final.rssKiB - baseline.rssKiB) / baseline.rssKiB,
    fdGrowth: (final.fds - baseline.fds) / baseline.fds,
    baselineSamples: baselineSamples.length,
    finalSamples: finalSamples.length,
  };
}

function average(samples: readonly Sample[]): ProcessStats {
  if (samples.length === 0) return { rssKiB: Number.NaN, fds: Number.NaN };
  return {
    rssKiB: samples.reduce((sum, sample) => sum + sample.rssKiB, 0) / samples.length,
    fds: samples.reduce((sum, sample) => sum + sample.fds, 0) / samples.length,
  };
}

/** One line per minute of the run: average RSS (MiB) and fds, the table the soak prints. */
export function minuteTable(samples: readonly Sample[]): string[] {
  const lines = ['minute   RSS MiB    fds'];
  const minutes = Math.ceil((samples.at(-1)?.atMs ?? 0) / 60_000);
  for (let minute = 0; minute < minutes; minute++) {
    const inMinute = samples.filter((sample) => sample.atMs >= minute * 60_000 && sample.atMs < (minute + 1) * 60_000);
    if (inMinute.length === 0) continue;
    const { rssKiB, fds } = average(inMinute);
    lines.push(`${String(minute + 1).padStart(6)} ${(rssKiB / 1024).toFixed(1).padStart(9)} ${fds.toFixed(1).padStart(6)}`);
  }
  return lines;
}
