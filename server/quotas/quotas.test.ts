import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import { parseEdgeConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { effectiveLimits, NO_OVERRIDES, type AccountLimitsStore, type StoredLimits } from './account-limits.js';
import { formatByteRate, parseByteRate } from './byte-rate.js';
import { ConnectionShaper, DOWN, UP } from './connection-shaper.js';
import { TokenBucket } from './token-bucket.js';
import { VisitorQuotas } from './visitor-quotas.js';

describe('byte rates', () => {
  test.each([
    ['10MB/s', 10_000_000], ['512KiB/s', 524_288], ['1.5 MiB/s', 1_572_864], ['100Mbit/s', 12_500_000], ['1000000', 1_000_000], ['2gb', 2_000_000_000],
  ])('%s is %d bytes per second', (text, rate) => {
    expect(parseByteRate(text)).toBe(rate);
  });
  test.each(['abc', '', '10 parsecs/s', '-1MB/s', '100', '1e3', '10MB/h', '64kbps'])('%s is refused', (text) => {
    expect(parseByteRate(text)).toBeNull();
  });
  test('formatted for people', () => {
    expect(formatByteRate(1024 * 1024)).toBe('1 MiB/s');
    expect(formatByteRate(10_000_000)).toBe('9.54 MiB/s');
  });
  test('config keys: a rate or a one-line error naming the key', () => {
    expect(parseEdgeConfig({ accountBandwidth: '10MB/s', routeBandwidth: 2048 }).accountBandwidth).toBe(10_000_000);
    expect(() => parseEdgeConfig({ accountBandwidth: 'abc' })).toThrow(/--account-bandwidth: must be a rate such as 10MB\/s/);
    expect(parseEdgeConfig({}).maxVisitorsPerRoute).toBeUndefined();
  });
});

describe('token bucket', () => {
  test('one second of burst, then a debt the reader waits out; the long-run rate holds whatever the chunk sizes', () => {
    let now = 0;
    const bucket = new TokenBucket(1_000_000, () => now);
    expect(bucket.take(1_000_000)).toBe(0);
    expect(bucket.take(500_000)).toBe(500);
    now += 500;
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(1_000_000)).toBe(1000);
    expect(bucket.pauses).toBe(2);
    expect(bucket.taken).toBe(2_500_000);
    now += 10_000;
    expect(bucket.isFull()).toBe(true);
    bucket.setRate(100_000);
    expect(bucket.take(100_000)).toBe(0);
    expect(bucket.take(50_000)).toBe(500);
  });
});

describe('connection shaper', () => {
  afterEach(() => vi.useRealTimers());

  test('a chunk that puts a bucket in debt pauses its source until the debt is paid; a full destination keeps it paused for drain', () => {
    vi.useFakeTimers();
    let now = 0;
    const bucket = new TokenBucket(16_384, () => now);
    const shaper = new ConnectionShaper([bucket]);
    const source = new PassThrough();
    const destination = new PassThrough({ highWaterMark: 1 });
    source.resume();
    shaper.charge(UP, 16_384, source, destination);
    expect(source.isPaused()).toBe(false);
    shaper.charge(UP, 8_192, source, destination);
    expect(source.isPaused()).toBe(true);
    expect(shaper.holds(UP)).toBe(true);
    expect(shaper.holds(DOWN)).toBe(false);
    now += 500;
    vi.advanceTimersByTime(500);
    expect(shaper.holds(UP)).toBe(false);
    expect(source.isPaused()).toBe(false);

    destination.write(Buffer.alloc(10)); // over its highWaterMark: needs a drain
    shaper.charge(UP, 16_384, source, destination);
    vi.advanceTimersByTime(2_000);
    expect(source.isPaused()).toBe(true);
    shaper.close();
  });
});

describe('visitor quotas', () => {
  function fakeLimits(stored: Partial<StoredLimits>, names = { count: 0, owned: false }): AccountLimitsStore {
    return {
      get: async () => ({ ...NO_OVERRIDES, ...stored }),
      getByName: async () => ({ ...NO_OVERRIDES, ...stored }),
      set: async () => { throw new Error('not here'); },
      names: async () => names,
    };
  }

  test('an override of 0 is unlimited, null keeps the default', () => {
    expect(effectiveLimits({ ...NO_OVERRIDES, maxVisitors: 0, bandwidth: 5000 }, { maxVisitorsPerAccount: 3, maxVisitorsPerRoute: 2 }))
      .toEqual({ maxNames: null, bandwidth: 5000, routeBandwidth: null, maxVisitors: null, routeMaxVisitors: 2 });
  });

  test('visitors per account and per route: admitted up to the limit, refused past it, a release makes room (released once only)', async () => {
    const quotas = new VisitorQuotas({ limits: fakeLimits({ maxVisitors: 3 }), meter: null, defaults: () => ({ maxVisitorsPerRoute: 2 }), logger: createLogger('silent', 'test') });
    try {
      await quotas.prepare(1);
      const alice = { id: 1, name: 'alice' };
      const a = quotas.admit(alice, 'web', 'r1');
      const b = quotas.admit(alice, 'web', 'r1');
      expect(quotas.admit(alice, 'web', 'r1')).toMatchObject({ ok: false, scope: 'route', limit: 2 });
      const c = quotas.admit(alice, 'api', 'r2');
      expect(quotas.admit(alice, 'api', 'r2')).toMatchObject({ ok: false, scope: 'account', limit: 3 });
      if (!a.ok || !b.ok || !c.ok) throw new Error('admitted above');
      a.quota.release();
      a.quota.release();
      expect(quotas.stats('alice', 'web')).toMatchObject({ visitors: 2, routeVisitors: 1 });
      expect(quotas.admit(alice, 'web', 'r1').ok).toBe(true);
      expect(quotas.refusedVisitors).toBe(2);
    } finally {
      quotas.close();
    }
  });

  test('names: refused at the limit with name_limit, a name the account owns is always fine, nothing claimed when refused', async () => {
    let claimed = 0;
    const claim = async (): Promise<string> => { claimed++; return 'claimed'; };
    const full = new VisitorQuotas({ limits: fakeLimits({ maxNames: 2 }, { count: 2, owned: false }), meter: null, defaults: () => ({}), logger: createLogger('silent', 'test') });
    const error = await full.claimName(1, 'third', claim).catch((e: unknown) => e);
    expect(isUdnsError(error, 'name_limit')).toBe(true);
    expect(String((error as Error).message)).toMatch(/holds 2 names, the most the operator allows \(2\)/);
    expect(claimed).toBe(0);
    const owned = new VisitorQuotas({ limits: fakeLimits({ maxNames: 2 }, { count: 2, owned: true }), meter: null, defaults: () => ({}), logger: createLogger('silent', 'test') });
    expect(await owned.claimName(1, 'mine', claim)).toBe('claimed');
    full.close();
    owned.close();
  });
});
