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

test('a debt bucket is full again once its burst has refilled', () => {
  let now = 0;
  const bucket = new DebtBucket(() => 100, 5, () => now);
  expect(bucket.isFull()).toBe(true);
  bucket.take(600);
  now += 5_000;
  expect(bucket.isFull()).toBe(false);
  now += 1_000;
  expect(bucket.isFull()).toBe(true);
});
