import { expect, test } from 'vitest';
import { PasswordThrottle, throttleKey } from './password-throttle.js';

test('IPv6 guessers are counted per /64, IPv4 per address', () => {
  expect(throttleKey('203.0.113.9')).toBe('203.0.113.9');
  expect(throttleKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
  expect(throttleKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
  expect(throttleKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
  expect(throttleKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
  expect(throttleKey('::1')).toBe('0:0:0:0::/64');
});

test('five wrong passwords from one /64 block the whole /64 until the minute is over', () => {
  const throttle = new PasswordThrottle();
  for (let i = 0; i < 5; i++) throttle.recordFailure(`2001:db8:1:2::${i + 1}`, 1000);
  expect(throttle.retryAfterSeconds('2001:db8:1:2::ffff', 1000)).toBe(60);
  expect(throttle.retryAfterSeconds('2001:db8:1:3::1', 1000)).toBe(0);
  expect(throttle.retryAfterSeconds('2001:db8:1:2::ffff', 61_000)).toBe(0);
});
