import { expect, test } from 'vitest';
import { ChangeThrottle } from './change-throttle.js';

test('a sliding window: the allowance comes back one take at a time as the window moves', () => {
  let now = 1_000_000;
  const throttle = new ChangeThrottle(3, 60_000, () => now);
  expect([throttle.tryTake(1), throttle.tryTake(1)]).toEqual([true, true]);
  now += 30_000;
  expect(throttle.tryTake(1)).toBe(true);
  expect(throttle.tryTake(1)).toBe(false);
  expect(throttle.remaining(1)).toBe(0);
  // Other keys are counted apart.
  expect(throttle.tryTake(2)).toBe(true);
  // 60 s after the first two takes, those two are free again; the third is not.
  now += 30_000;
  expect(throttle.remaining(1)).toBe(2);
  expect([throttle.tryTake(1), throttle.tryTake(1), throttle.tryTake(1)]).toEqual([true, true, false]);
  now += 60_000;
  expect(throttle.remaining(1)).toBe(3);
});
