import { expect, test } from 'vitest';
import { DebtBucket } from './index-rate.js';

test('a debt bucket lets a burst through, then owes time at its rate, and follows a changed rate', () => {
  let now = 0;
  let rate = 100;
  const bucket = new DebtBucket(() => rate, 5, () => now);
  expect(bucket.take(500)).toBe(0);
  expect(bucket.take(100)).toBe(1000);
  now += 500;
  expect(bucket.debtMs()).toBe(500);
  now += 10_000;
  // Refilled to the burst, not beyond.
  expect(bucket.take(500)).toBe(0);
  expect(bucket.take(1)).toBe(10);
  rate = 1000;
  expect(bucket.debtMs()).toBe(1);
});
