import { describe, expect, test } from 'vitest';
import { Backoff } from './backoff.js';

describe('reconnect backoff', () => {
  test('doubles from 100 ms to a 30 s cap without jitter', () => {
    const backoff = new Backoff(100, 30_000, 0);
    const delays = Array.from({ length: 12 }, () => backoff.next());
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  test('jitter spreads each delay by at most ±30% and never past the cap', () => {
    for (const random of [0, 0.5, 0.999]) {
      const backoff = new Backoff(100, 30_000, 0.3, () => random);
      const first = backoff.next();
      expect(first).toBeGreaterThanOrEqual(70);
      expect(first).toBeLessThanOrEqual(130);
      for (let i = 0; i < 20; i++) expect(backoff.next()).toBeLessThanOrEqual(30_000);
    }
  });

  test('reset starts over after a connection that worked', () => {
    const backoff = new Backoff(100, 30_000, 0);
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  test('an edge\'s Retry-After is a floor, spread upwards only, and still grows the next delay', () => {
    for (const random of [0, 0.5, 0.999]) {
      const backoff = new Backoff(100, 30_000, 0.3, () => random);
      const delay = backoff.next(5000);
      expect(delay).toBeGreaterThanOrEqual(5000);
      expect(delay).toBeLessThanOrEqual(6500);
    }
    // Longer than the cap when the edge asks for it.
    expect(new Backoff(100, 30_000, 0).next(120_000)).toBe(120_000);
    // A floor below the backoff's own delay changes nothing.
    const backoff = new Backoff(100, 30_000, 0);
    expect([backoff.next(), backoff.next(), backoff.next(50)]).toEqual([100, 200, 400]);
  });
});
