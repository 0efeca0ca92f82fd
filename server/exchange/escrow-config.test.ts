import { describe, expect, test } from 'vitest';
import { DEFAULT_DISPUTE_WINDOW_MS, DEFAULT_OFFER_TIMEOUT_MS, DEFAULT_SALE_TIMEOUT_MS } from '../../protocol/index.js';
import { loadEdgeConfig } from '../config.js';
import { LIVE_KEYS } from '../reload.js';

describe('the escrow\'s edge settings', () => {
  test('durations from flags, UDNS_* and defaults, in ms; bad ones are named', () => {
    expect(loadEdgeConfig({})).toMatchObject({ offerTimeout: DEFAULT_OFFER_TIMEOUT_MS, saleTimeout: DEFAULT_SALE_TIMEOUT_MS, disputeWindow: DEFAULT_DISPUTE_WINDOW_MS });
    expect(loadEdgeConfig({ offerTimeout: '30s', saleTimeout: '1h30m' }, { UDNS_DISPUTE_WINDOW: '2d' }))
      .toMatchObject({ offerTimeout: 30_000, saleTimeout: 5_400_000, disputeWindow: 172_800_000 });
    expect(loadEdgeConfig({ offerTimeout: '500ms' }).offerTimeout).toBe(500);
    expect(() => loadEdgeConfig({ offerTimeout: '30' })).toThrow(/--offer-timeout: must be a duration such as 30s/);
    expect(() => loadEdgeConfig({}, { UDNS_SALE_TIMEOUT: '50ms' })).toThrow(/UDNS_SALE_TIMEOUT: must be at least 100ms/);
    expect(() => loadEdgeConfig({ disputeWindow: '31d' })).toThrow(/--dispute-window: must be at most 30d/);
  });

  test('they apply on SIGHUP', () => {
    for (const key of ['offerTimeout', 'saleTimeout', 'disputeWindow'] as const) expect(LIVE_KEYS.has(key)).toBe(true);
  });
});
