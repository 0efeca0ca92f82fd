import { describe, expect, test } from 'vitest';
import { RECLAIM_MIN_IDLE_MS, VisitorSlots, type VisitorSlot } from './visitor-slots.js';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

describe('visitor slots', () => {
  test('an IPv6 /64 is one network: its addresses share one budget', () => {
    const slots = new VisitorSlots({ perTunnel: 100, perNetwork: 3 });
    const reclaimed: string[] = [];
    for (let i = 1; i <= 3; i++) expect(slots.admit(`2001:db8:1:2::${i}`, { pinned: true, reclaim: () => reclaimed.push(`${i}`) })).not.toBeNull();
    expect(slots.admit('2001:db8:1:2:ffff::9', { pinned: true, reclaim: () => {} })).toBeNull();
    expect(slots.admit('2001:db8:1:3::1', { pinned: true, reclaim: () => {} })).not.toBeNull();
    expect(slots.heldBy('2001:db8:1:2::77')).toBe(3);
  });

  test('a network at its limit makes room by closing its own longest-idle answered connection', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 100, perNetwork: 2 }, time.now);
    const closed: string[] = [];
    const a = slots.admit('192.0.2.1', { pinned: false, reclaim: () => closed.push('a') })!;
    time.advance(10);
    const b = slots.admit('192.0.2.1', { pinned: false, reclaim: () => closed.push('b') })!;
    a.touch(true);
    b.touch(true);
    // Not idle long enough yet: the newcomer waits its turn.
    expect(slots.admit('192.0.2.1', { pinned: false, reclaim: () => {} })).toBeNull();
    time.advance(RECLAIM_MIN_IDLE_MS + 1);
    b.touch(true);
    expect(slots.admit('192.0.2.1', { pinned: false, reclaim: () => {} })).not.toBeNull();
    expect(closed).toEqual(['a']);
    expect(slots.heldBy('192.0.2.1')).toBe(2);
  });

  test('a connection waiting for its answer, or pinned (TCP, upgrades), is never reclaimed', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 100, perNetwork: 2 }, time.now);
    const waiting = slots.admit('192.0.2.1', { pinned: false, reclaim: () => { throw new Error('reclaimed a pending request'); } })!;
    waiting.touch(false);
    slots.admit('192.0.2.1', { pinned: true, reclaim: () => { throw new Error('reclaimed a pinned one'); } })!.touch(true);
    time.advance(60_000);
    expect(slots.admit('192.0.2.1', { pinned: false, reclaim: () => {} })).toBeNull();
  });

  test('a full tunnel reclaims from the network holding the most, so a few addresses cannot lock a name', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 6, perNetwork: 6 }, time.now);
    const closed: string[] = [];
    const held: VisitorSlot[] = [];
    for (const [address, count] of [['198.51.100.1', 4], ['198.51.100.2', 2]] as const) {
      for (let i = 0; i < count; i++) held.push(slots.admit(address, { pinned: false, reclaim: () => closed.push(address) })!);
    }
    for (const slot of held) slot.touch(true);
    time.advance(RECLAIM_MIN_IDLE_MS + 1);
    expect(slots.admit('203.0.113.5', { pinned: false, reclaim: () => {} })).not.toBeNull();
    expect(closed).toEqual(['198.51.100.1']);
    expect(slots.size).toBe(6);
  });

  test('release frees the place once, however often it is called', () => {
    const slots = new VisitorSlots({ perTunnel: 1, perNetwork: 1 });
    const slot = slots.admit('192.0.2.1', { pinned: true, reclaim: () => {} })!;
    slot.release();
    slot.release();
    expect(slots.size).toBe(0);
    expect(slots.admit('192.0.2.9', { pinned: true, reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.10', { pinned: true, reclaim: () => {} })).toBeNull();
  });
});
