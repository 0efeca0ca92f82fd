import { describe, expect, test } from 'vitest';
import { HTTP_MAX_SILENCE_MS, RECLAIM_MIN_IDLE_MS, VisitorSlots, type VisitorSlot } from './visitor-slots.js';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

describe('visitor slots', () => {
  test('an IPv6 /64 is one network: its addresses share one budget', () => {
    const slots = new VisitorSlots({ perTunnel: 100, perNetwork: 3, keepAliveIdleMs: 75_000 });
    const reclaimed: string[] = [];
    for (let i = 1; i <= 3; i++) expect(slots.admit(`2001:db8:1:2::${i}`, { kind: 'tcp', reclaim: () => reclaimed.push(`${i}`) })).not.toBeNull();
    expect(slots.admit('2001:db8:1:2:ffff::9', { kind: 'tcp', reclaim: () => {} })).toBeNull();
    expect(slots.admit('2001:db8:1:3::1', { kind: 'tcp', reclaim: () => {} })).not.toBeNull();
    expect(slots.heldBy('2001:db8:1:2::77')).toBe(3);
  });

  test('a network at its limit makes room by closing its own longest-idle answered connection', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 100, perNetwork: 2, keepAliveIdleMs: 75_000 }, time.now);
    const closed: string[] = [];
    const a = slots.admit('192.0.2.1', { kind: 'http', reclaim: () => closed.push('a') })!;
    time.advance(10);
    const b = slots.admit('192.0.2.1', { kind: 'http', reclaim: () => closed.push('b') })!;
    a.touch(true);
    b.touch(true);
    // Not idle long enough yet: the newcomer waits its turn.
    expect(slots.admit('192.0.2.1', { kind: 'http', reclaim: () => {} })).toBeNull();
    time.advance(RECLAIM_MIN_IDLE_MS + 1);
    b.touch(true);
    expect(slots.admit('192.0.2.1', { kind: 'http', reclaim: () => {} })).not.toBeNull();
    expect(closed).toEqual(['a']);
    expect(slots.heldBy('192.0.2.1')).toBe(2);
  });

  test('a connection waiting for its answer, or pinned (TCP, upgrades), is never reclaimed', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 100, perNetwork: 2, keepAliveIdleMs: 75_000 }, time.now);
    const waiting = slots.admit('192.0.2.1', { kind: 'http', reclaim: () => { throw new Error('reclaimed a pending request'); } })!;
    waiting.touch(false);
    slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => { throw new Error('reclaimed a pinned one'); } })!.touch(true);
    time.advance(60_000);
    expect(slots.admit('192.0.2.1', { kind: 'http', reclaim: () => {} })).toBeNull();
  });

  test('a full tunnel reclaims from the network holding the most, so a few addresses cannot lock a name', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 6, perNetwork: 6, keepAliveIdleMs: 75_000 }, time.now);
    const closed: string[] = [];
    const held: VisitorSlot[] = [];
    for (const [address, count] of [['198.51.100.1', 4], ['198.51.100.2', 2]] as const) {
      for (let i = 0; i < count; i++) held.push(slots.admit(address, { kind: 'http', reclaim: () => closed.push(address) })!);
    }
    for (const slot of held) slot.touch(true);
    time.advance(RECLAIM_MIN_IDLE_MS + 1);
    expect(slots.admit('203.0.113.5', { kind: 'http', reclaim: () => {} })).not.toBeNull();
    expect(closed).toEqual(['198.51.100.1']);
    expect(slots.size).toBe(6);
  });

  test('a trusted proxy carries many clients: only the tunnel limit applies to it', () => {
    const slots = new VisitorSlots({ perTunnel: 5, perNetwork: 2, keepAliveIdleMs: 75_000 });
    for (let i = 0; i < 5; i++) expect(slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => {}, viaTrustedProxy: true })).not.toBeNull();
    expect(slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => {}, viaTrustedProxy: true })).toBeNull();
  });

  test('release frees the place once, however often it is called', () => {
    const slots = new VisitorSlots({ perTunnel: 1, perNetwork: 1, keepAliveIdleMs: 75_000 });
    const slot = slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => {} })!;
    slot.release();
    slot.release();
    expect(slots.size).toBe(0);
    expect(slots.admit('192.0.2.9', { kind: 'tcp', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.10', { kind: 'tcp', reclaim: () => {} })).toBeNull();
  });

  test('regression: an idle keep-alive connection is closed after the keep-alive time, not 5 minutes; others by their own rules', () => {
    const time = clock();
    const slots = new VisitorSlots({ perTunnel: 10, perNetwork: 10, keepAliveIdleMs: 75_000 }, time.now);
    const closed: string[] = [];
    const open = (name: string, kind: 'http' | 'upgrade' | 'tcp', answered: boolean) => {
      slots.admit('192.0.2.1', { kind, reclaim: () => closed.push(name) })!.touch(answered);
    };
    open('between requests', 'http', true);
    open('awaiting its answer', 'http', false);
    open('websocket', 'upgrade', true);
    open('ssh', 'tcp', true);
    time.advance(74_000);
    expect(slots.closeIdle()).toBe(0);
    time.advance(1_000);
    expect(slots.closeIdle()).toBe(1);
    expect(closed).toEqual(['between requests']);
    time.advance(HTTP_MAX_SILENCE_MS);
    slots.closeIdle();
    expect(closed).toEqual(['between requests', 'awaiting its answer', 'websocket']);
    expect(slots.size).toBe(1);
  });
});
