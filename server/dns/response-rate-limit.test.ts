import { describe, expect, test } from 'vitest';
import { RATE_LIMIT_DEFAULTS, ResponseRateLimiter, sourceNetwork, type RateLimitSettings } from './response-rate-limit.js';

/** A limiter on a clock that moves only when the test says so. */
function limiterOf(settings: Partial<RateLimitSettings> = {}) {
  const clock = { now: 1_000_000 };
  const limiter = new ResponseRateLimiter({ ...RATE_LIMIT_DEFAULTS, exemptLoopback: false, ...settings }, () => clock.now);
  return { limiter, clock };
}

const decisions = (limiter: ResponseRateLimiter, address: string, count: number) =>
  Array.from({ length: count }, () => limiter.decide(address));

describe('sourceNetwork', () => {
  test('IPv4 sources group by /24, IPv6 by /56, IPv4-mapped as IPv4', () => {
    expect(sourceNetwork('192.0.2.1', false)).toBe('192.0.2.0/24');
    expect(sourceNetwork('192.0.2.254', false)).toBe('192.0.2.0/24');
    expect(sourceNetwork('::ffff:192.0.2.9', false)).toBe('192.0.2.0/24');
    expect(sourceNetwork('2001:db8:aa:bb00::1', false)).toBe('2001:db8:aa:bb00::/56');
    expect(sourceNetwork('2001:db8:aa:bbff:ffff::1', false)).toBe('2001:db8:aa:bb00::/56');
    expect(sourceNetwork('2001:db8:aa:bc00::1', false)).toBe('2001:db8:aa:bc00::/56');
    expect(sourceNetwork('fe80::1%eth0', false)).toBe('fe80::/56');
    expect(sourceNetwork('::', false)).toBe('::/56');
  });

  test('loopback is exempt only when asked', () => {
    for (const address of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) {
      expect(sourceNetwork(address, true), address).toBeNull();
      expect(sourceNetwork(address, false), address).not.toBeNull();
    }
    expect(sourceNetwork('::2', true)).not.toBeNull();
  });
});

describe('ResponseRateLimiter', () => {
  test('the defaults: 20 responses/s after a burst of 40, every second refusal slips', () => {
    expect(RATE_LIMIT_DEFAULTS).toMatchObject({ responsesPerSecond: 20, burst: 40, slip: 2, exemptLoopback: true });
    const { limiter, clock } = limiterOf();
    expect(decisions(limiter, '198.51.100.1', 40).every((d) => d === 'send')).toBe(true);
    expect(decisions(limiter, '198.51.100.2', 6)).toEqual(['drop', 'slip', 'drop', 'slip', 'drop', 'slip']);
    clock.now += 1000;
    const afterOneSecond = decisions(limiter, '198.51.100.3', 24);
    expect(afterOneSecond.filter((d) => d === 'send')).toHaveLength(20);
    expect(afterOneSecond.slice(20)).toEqual(['drop', 'slip', 'drop', 'slip']);
  });

  test('tokens come back at the configured rate, never beyond the burst', () => {
    const { limiter, clock } = limiterOf({ responsesPerSecond: 4, burst: 2, slip: 0 });
    expect(decisions(limiter, '203.0.113.5', 3)).toEqual(['send', 'send', 'drop']);
    clock.now += 249;
    expect(limiter.decide('203.0.113.5')).toBe('drop');
    clock.now += 1;
    expect(limiter.decide('203.0.113.5')).toBe('send');
    clock.now += 60_000;
    expect(decisions(limiter, '203.0.113.5', 3)).toEqual(['send', 'send', 'drop']);
  });

  test('slip 1 truncates every refused response, slip 0 none, slip 3 every third', () => {
    expect(decisions(limiterOf({ burst: 1, slip: 1 }).limiter, '192.0.2.1', 4)).toEqual(['send', 'slip', 'slip', 'slip']);
    expect(decisions(limiterOf({ burst: 1, slip: 0 }).limiter, '192.0.2.1', 4)).toEqual(['send', 'drop', 'drop', 'drop']);
    expect(decisions(limiterOf({ burst: 1, slip: 3 }).limiter, '192.0.2.1', 7)).toEqual(['send', 'drop', 'drop', 'slip', 'drop', 'drop', 'slip']);
  });

  test('one network shares a bucket; neighbours have their own', () => {
    const { limiter } = limiterOf({ burst: 2, slip: 0 });
    expect([limiter.decide('192.0.2.1'), limiter.decide('192.0.2.200'), limiter.decide('192.0.2.7')]).toEqual(['send', 'send', 'drop']);
    expect(limiter.decide('192.0.3.1')).toBe('send');
    expect([limiter.decide('2001:db8:0:100::1'), limiter.decide('2001:db8:0:1ff::2'), limiter.decide('2001:db8:0:100::3')]).toEqual(['send', 'send', 'drop']);
    expect(limiter.decide('2001:db8:0:200::1')).toBe('send');
    expect(limiter.trackedSources).toBe(4);
  });

  test('exempt loopback is never limited nor tracked', () => {
    const { limiter } = limiterOf({ burst: 1, exemptLoopback: true });
    expect(decisions(limiter, '127.0.0.1', 100).every((d) => d === 'send')).toBe(true);
    expect(limiter.trackedSources).toBe(0);
  });

  test('memory stays bounded: past maxSources the least recently seen network is forgotten', () => {
    const { limiter } = limiterOf({ burst: 1, slip: 0, maxSources: 100 });
    expect(limiter.decide('10.0.0.1')).toBe('send');
    for (let i = 0; i < 1000; i++) {
      limiter.decide(`10.${i >> 8}.${i & 255}.1`);
      expect(limiter.trackedSources).toBeLessThanOrEqual(100);
    }
    // 10.0.0.x was pushed out long ago: it starts over with a full bucket.
    expect(limiter.decide('10.0.0.1')).toBe('send');
  });

  test('a network seen recently stays tracked while older ones are evicted', () => {
    const { limiter } = limiterOf({ burst: 1, slip: 0, maxSources: 3 });
    limiter.decide('10.0.1.1');
    limiter.decide('10.0.2.1');
    limiter.decide('10.0.3.1');
    limiter.decide('10.0.1.1'); // seen again: now the most recent, still limited
    limiter.decide('10.0.4.1'); // evicts 10.0.2.x, the least recently seen
    expect(limiter.decide('10.0.1.1')).toBe('drop');
    expect(limiter.decide('10.0.2.1')).toBe('send');
  });

  test('networks idle long enough to refill are forgotten as traffic goes on', () => {
    const { limiter, clock } = limiterOf({ responsesPerSecond: 10, burst: 20 });
    for (let i = 0; i < 50; i++) limiter.decide(`172.16.${i}.1`);
    expect(limiter.trackedSources).toBe(50);
    clock.now += 2000; // burst / rate: every bucket is full again, the same as none
    for (let i = 0; i < 20; i++) limiter.decide('192.0.2.1');
    expect(limiter.trackedSources).toBe(1);
  });

  test('a clock going backwards neither adds tokens nor throws', () => {
    const { limiter, clock } = limiterOf({ burst: 1, slip: 0 });
    expect(limiter.decide('192.0.2.1')).toBe('send');
    clock.now -= 10_000;
    expect(limiter.decide('192.0.2.1')).toBe('drop');
  });
});
