import { describe, expect, test } from 'vitest';
import { DEFAULT_VISITOR_STREAMS_PER_NETWORK, DEFAULT_VISITOR_STREAMS_PER_TUNNEL, MIN_STREAMS_PER_TUNNEL, visitorStreamsPerNetwork } from '../../protocol/index.js';
import { DEFAULT_VISITOR_LIMITS } from './tunnel-registry.js';
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

  test('a flood from many addresses of one IPv6 /64 is one network at the default limits; the next /64 is another', () => {
    const slots = new VisitorSlots(DEFAULT_VISITOR_LIMITS);
    let admitted = 0;
    // More distinct addresses than the per-network limit, spread over the /64's host bits.
    for (let i = 0; i < DEFAULT_VISITOR_STREAMS_PER_NETWORK + 500; i++) {
      const host = `${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}:${(i * 7919 & 0xffff).toString(16)}:${(i * 31 & 0xffff).toString(16)}`;
      if (slots.admit(`2001:db8:aa:bb:${host}`, { kind: 'upgrade', reclaim: () => {} }) !== null) admitted++;
    }
    expect(admitted).toBe(DEFAULT_VISITOR_STREAMS_PER_NETWORK);
    expect(slots.heldBy('2001:db8:aa:bb::1')).toBe(DEFAULT_VISITOR_STREAMS_PER_NETWORK);
    expect(slots.admit('2001:db8:aa:bc::1', { kind: 'upgrade', reclaim: () => {} })).not.toBeNull();
    // An IPv4-mapped address counts as its IPv4 address, whichever socket family it came on.
    expect(slots.admit('::ffff:192.0.2.7', { kind: 'upgrade', reclaim: () => {} })).not.toBeNull();
    expect(slots.heldBy('192.0.2.7')).toBe(1);
  });

  test('the default limits follow memory: more than the old 999 per tunnel, a quarter of it per network', () => {
    expect(DEFAULT_VISITOR_LIMITS.perTunnel).toBe(DEFAULT_VISITOR_STREAMS_PER_TUNNEL);
    expect(DEFAULT_VISITOR_STREAMS_PER_TUNNEL).toBeGreaterThanOrEqual(MIN_STREAMS_PER_TUNNEL - 1);
    expect(DEFAULT_VISITOR_LIMITS.perNetwork).toBe(visitorStreamsPerNetwork(DEFAULT_VISITOR_STREAMS_PER_TUNNEL));
  });

  test('an agent that takes fewer streams than the edge allows caps the tunnel, and each network keeps a quarter of that', () => {
    // An older agent advertises 1000 concurrent streams: 999 for visitors.
    const slots = new VisitorSlots({ perTunnel: 20_000, perNetwork: 5_000, keepAliveIdleMs: 75_000 }, Date.now, () => 999);
    let fromOne = 0;
    while (slots.admit('192.0.2.1', { kind: 'upgrade', reclaim: () => {} }) !== null) fromOne++;
    expect(fromOne).toBe(249);
    for (let n = 2; n <= 4; n++) for (let i = 0; i < 249; i++) expect(slots.admit(`192.0.2.${n}`, { kind: 'upgrade', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.5', { kind: 'upgrade', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.6', { kind: 'upgrade', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.7', { kind: 'upgrade', reclaim: () => {} })).not.toBeNull();
    expect(slots.size).toBe(999);
    expect(slots.admit('192.0.2.8', { kind: 'upgrade', reclaim: () => {} })).toBeNull();
  });

  test('an agent that takes more than the edge allows changes nothing: the edge\'s limits hold', () => {
    const slots = new VisitorSlots({ perTunnel: 3, perNetwork: 2, keepAliveIdleMs: 75_000 }, Date.now, () => 65_535);
    expect(slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.1', { kind: 'tcp', reclaim: () => {} })).toBeNull();
    expect(slots.admit('192.0.2.2', { kind: 'tcp', reclaim: () => {} })).not.toBeNull();
    expect(slots.admit('192.0.2.3', { kind: 'tcp', reclaim: () => {} })).toBeNull();
  });
});
