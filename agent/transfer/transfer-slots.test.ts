import { describe, expect, test } from 'vitest';
import { MAX_TRANSFERS_PER_RECEIVER, MAX_TRANSFERS_PER_SHARE } from '../../protocol/index.js';
import { TransferSlots } from './transfer-slots.js';

describe('TransferSlots', () => {
  test('a share serves MAX_TRANSFERS_PER_SHARE connections, one receiver at most MAX_TRANSFERS_PER_RECEIVER of them', () => {
    const slots = new TransferSlots<object>();
    const share = {};
    const other = {};
    const releases: Array<() => void> = [];
    for (let i = 0; i < MAX_TRANSFERS_PER_RECEIVER; i++) releases.push(slots.claim(share, 'alice')!);
    expect(slots.claim(share, 'alice')).toBeNull();
    expect(slots.admits(share, 'bob')).toBe(true);
    for (let i = MAX_TRANSFERS_PER_RECEIVER; i < MAX_TRANSFERS_PER_SHARE; i++) releases.push(slots.claim(share, `r${i}`)!);
    expect(slots.claim(share, 'bob')).toBeNull();
    expect(slots.claim(other, 'bob')).not.toBeNull();
    // Released twice counts once.
    releases[0]!();
    releases[0]!();
    expect(slots.count(share)).toBe(MAX_TRANSFERS_PER_SHARE - 1);
    expect(slots.claim(share, 'bob')).not.toBeNull();
    expect(slots.claim(share, 'carol')).toBeNull();
  });

  test('counts are forgotten when their connections close', () => {
    const slots = new TransferSlots<object>();
    const share = {};
    const release = slots.claim(share, 'alice')!;
    release();
    expect(slots.count(share)).toBe(0);
    expect((slots as unknown as { open: Map<object, unknown> }).open.size).toBe(0);
  });
});
