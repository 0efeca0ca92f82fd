import { describe, expect, test } from 'vitest';
import { Backoff, EDGE_DOWN_MAX_DELAY_MS } from './backoff.js';

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

describe('reconnect backoff while the edge is down (issue 9 #6)', () => {
  test('refused or reset attempts wait at most 1 s, spread below it, while the attempts still count', () => {
    for (const random of [0, 0.5, 0.999]) {
      const backoff = new Backoff(100, 30_000, 0.3, () => random);
      const delays = Array.from({ length: 12 }, () => backoff.next(0, true));
      for (const delay of delays) expect(delay).toBeLessThanOrEqual(EDGE_DOWN_MAX_DELAY_MS);
      for (const delay of delays.slice(4)) expect(delay).toBeGreaterThanOrEqual(EDGE_DOWN_MAX_DELAY_MS * 0.7);
      // The next failure of another kind takes the delay the attempts have grown to.
      expect(backoff.next()).toBeGreaterThan(EDGE_DOWN_MAX_DELAY_MS * 10);
    }
  });

  test('the first delays are the usual short ones, without jitter exactly 100, 200, 400, 800, then 1000', () => {
    const backoff = new Backoff(100, 30_000, 0);
    expect(Array.from({ length: 7 }, () => backoff.next(0, true))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  test('an edge\'s Retry-After still wins over the short wait', () => {
    const backoff = new Backoff(100, 30_000, 0);
    for (let i = 0; i < 6; i++) backoff.next(0, true);
    expect(backoff.next(5000, true)).toBe(5000);
  });
});
