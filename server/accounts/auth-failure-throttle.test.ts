import { describe, expect, test } from 'vitest';
import { AUTH_FAILURE_LIMITS, AuthFailureThrottle } from './auth-failure-throttle.js';

/** A clock the test moves by hand. */
function fakeClock(startMs = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms) => { nowMs += ms; } };
}

function fail(throttle: AuthFailureThrottle, address: string, times: number): void {
  for (let i = 0; i < times; i++) throttle.recordFailure(address);
}

describe('failed token checks per network', () => {
  test('20 failures in a row, then one every 5 s; Retry-After says how long', () => {
    const clock = fakeClock();
    const throttle = new AuthFailureThrottle({}, clock.now);
    for (let i = 0; i < AUTH_FAILURE_LIMITS.burst; i++) {
      expect(throttle.retryAfterSeconds('198.51.100.7')).toBe(0);
      throttle.recordFailure('198.51.100.7');
    }
    expect(throttle.retryAfterSeconds('198.51.100.7')).toBe(5);
    clock.advance(3_000);
    expect(throttle.retryAfterSeconds('198.51.100.7')).toBe(2);
    clock.advance(2_000);
    expect(throttle.retryAfterSeconds('198.51.100.7')).toBe(0);
    throttle.recordFailure('198.51.100.7');
    expect(throttle.retryAfterSeconds('198.51.100.7')).toBe(5);
    // Asking while throttled costs nothing: the wait does not grow.
    for (let i = 0; i < 1000; i++) throttle.retryAfterSeconds('198.51.100.7');
    clock.advance(5_000);
    expect(throttle.retryAfterSeconds('198.51.100.7')).toBe(0);
  });

  test('counts by network: an IPv4 address, an IPv6 /64 (and IPv4-mapped IPv6 as IPv4)', () => {
    const throttle = new AuthFailureThrottle({}, fakeClock().now);
    fail(throttle, '2001:db8:1:2::1', 10);
    fail(throttle, '2001:db8:1:2:ffff:ffff:ffff:ffff', 10);
    expect(throttle.retryAfterSeconds('2001:db8:1:2::abcd')).toBeGreaterThan(0);
    expect(throttle.retryAfterSeconds('2001:db8:1:3::1')).toBe(0);

    fail(throttle, '::ffff:192.0.2.1', 20);
    expect(throttle.retryAfterSeconds('192.0.2.1')).toBeGreaterThan(0);
    expect(throttle.retryAfterSeconds('192.0.2.2')).toBe(0);
    // Loopback is not exempt: behind a local reverse proxy every client is 127.0.0.1.
    fail(throttle, '127.0.0.1', 20);
    expect(throttle.retryAfterSeconds('127.0.0.1')).toBeGreaterThan(0);
    expect(throttle.retryAfterSeconds('127.0.0.2')).toBe(0);
  });

  test('a global budget stops guesses spread over many networks', () => {
    const clock = fakeClock();
    const throttle = new AuthFailureThrottle({ globalBurst: 50, globalPerSecond: 10 }, clock.now);
    for (let i = 0; i < 50; i++) throttle.recordFailure(`203.0.113.${i}`);
    // A network that never failed waits too, but only for the global refill.
    expect(throttle.retryAfterSeconds('198.51.100.1')).toBe(1);
    clock.advance(100);
    expect(throttle.retryAfterSeconds('198.51.100.1')).toBe(0);
    throttle.recordFailure('198.51.100.1');
    expect(throttle.retryAfterSeconds('198.51.100.2')).toBe(1);
  });

  test('forgive gives back a failure counted before a lookup that succeeded', () => {
    const throttle = new AuthFailureThrottle({}, fakeClock().now);
    fail(throttle, '192.0.2.9', 19);
    throttle.recordFailure('192.0.2.9');
    expect(throttle.retryAfterSeconds('192.0.2.9')).toBe(5);
    throttle.forgive('192.0.2.9');
    expect(throttle.retryAfterSeconds('192.0.2.9')).toBe(0);
    // Forgiving never raises a budget past its burst.
    const fresh = new AuthFailureThrottle({}, fakeClock().now);
    for (let i = 0; i < 50; i++) fresh.forgive('192.0.2.10');
    fail(fresh, '192.0.2.10', AUTH_FAILURE_LIMITS.burst);
    expect(fresh.retryAfterSeconds('192.0.2.10')).toBe(5);
  });

  test('memory is bounded: at most maxNetworks remembered, and networks that stopped failing are forgotten', () => {
    const clock = fakeClock();
    const throttle = new AuthFailureThrottle({ maxNetworks: 100, globalBurst: 1e9 }, clock.now);
    for (let i = 0; i < 5000; i++) throttle.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(throttle.trackedNetworks).toBe(100);
    // The most recent ones are kept: the last guesser is still throttled after its burst.
    fail(throttle, '10.0.19.135', AUTH_FAILURE_LIMITS.burst);
    expect(throttle.retryAfterSeconds('10.0.19.135')).toBeGreaterThan(0);

    clock.advance(AUTH_FAILURE_LIMITS.burst * AUTH_FAILURE_LIMITS.refillMs);
    throttle.recordFailure('192.0.2.1');
    expect(throttle.trackedNetworks).toBe(1);
  });
});
