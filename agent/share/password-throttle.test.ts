import { expect, test } from 'vitest';
import { PasswordThrottle } from './password-throttle.js';

test('five wrong passwords from one /64 block the whole /64 until the minute is over', () => {
  const throttle = new PasswordThrottle();
  for (let i = 0; i < 5; i++) throttle.recordFailure(`2001:db8:1:2::${i + 1}`, 1000);
  expect(throttle.retryAfterSeconds('2001:db8:1:2::ffff', 1000)).toBe(60);
  expect(throttle.retryAfterSeconds('2001:db8:1:3::1', 1000)).toBe(0);
  expect(throttle.retryAfterSeconds('2001:db8:1:2::ffff', 61_000)).toBe(0);
});
