import { describe, expect, it } from 'vitest';
import { combineWrkRounds, type WrkResult } from '../../bench/wrk.js';

function round(requestsPerSec: number, p99: number, extra: { max?: number; non2xx?: number; read?: number } = {}): WrkResult {
  const socketErrors = { connect: 0, read: extra.read ?? 0, write: 0, timeout: 0 };
  const non2xx = extra.non2xx ?? 0;
  return {
    requestsPerSec,
    requests: requestsPerSec * 4,
    durationSec: 4,
    latencyMs: { avg: p99 / 4, max: extra.max ?? p99 * 2, p50: p99 / 3, p75: p99 / 2, p90: p99 / 1.5, p99 },
    non2xx,
    socketErrors,
    errorCount: non2xx + socketErrors.read,
  };
}

describe('wrk rounds', () => {
  it('takes the median round for rates and percentiles, adds up counts and errors, keeps the worst max', () => {
    const combined = combineWrkRounds([round(20_000, 4), round(12_000, 15, { max: 40, read: 2 }), round(21_000, 5, { non2xx: 1 })]);
    expect(combined.requestsPerSec).toBe(20_000);
    expect(combined.latencyMs.p99).toBe(5);
    expect(combined.latencyMs.p50).toBeCloseTo(5 / 3);
    expect(combined.latencyMs.max).toBe(40);
    expect(combined.requests).toBe(53_000 * 4);
    expect(combined.durationSec).toBe(12);
    expect(combined.socketErrors.read).toBe(2);
    expect(combined.non2xx).toBe(1);
    expect(combined.errorCount).toBe(3);
  });

  it('an even number of rounds takes the mean of the middle two; one round is itself', () => {
    expect(combineWrkRounds([round(10_000, 2), round(30_000, 8), round(20_000, 4), round(40_000, 6)]).requestsPerSec).toBe(25_000);
    const only = round(9_000, 3);
    expect(combineWrkRounds([only])).toBe(only);
    expect(() => combineWrkRounds([])).toThrow(/at least one round/);
  });
});
