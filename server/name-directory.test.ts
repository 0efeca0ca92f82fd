import { describe, expect, test } from 'vitest';
import { NameDirectory } from './name-directory.js';

const A = (value: string, ttl = 60) => ({ type: 'A' as const, value, ttl });
const TXT = (value: string, ttl = 60) => ({ type: 'TXT' as const, value, ttl });

describe('NameDirectory', () => {
  test('loads names and records, answers records per owner in the order given', () => {
    const directory = new NameDirectory(['alice'], [
      { owner: 'alice', ...A('203.0.113.7') },
      { owner: 'www.alice', ...TXT('hi', 300) },
      { owner: 'alice', ...TXT('v=1') },
    ]);
    expect(directory.isClaimed('alice')).toBe(true);
    expect(directory.recordsAt('alice')).toEqual([A('203.0.113.7'), TXT('v=1')]);
    expect(directory.recordsAt('www.alice')).toEqual([TXT('hi', 300)]);
    expect(directory.recordsAt('bob')).toEqual([]);
    expect(Object.isFrozen(directory.recordsAt('alice'))).toBe(true);
    expect(Object.isFrozen(directory.recordsAt('alice')[0])).toBe(true);
  });

  test('the serial moves on every change and only then', () => {
    const directory = new NameDirectory(['alice'], [], new Date('2026-11-25T00:00:00Z'));
    let serial = directory.serial();
    const moved = (): boolean => {
      const now = directory.serial();
      const changed = now > serial;
      serial = now;
      return changed;
    };
    directory.setRecordsAt('alice', [A('203.0.113.7')]);
    expect(moved()).toBe(true);
    directory.setRecordsAt('alice', [A('203.0.113.7')]);
    expect(moved()).toBe(false);
    directory.setRecordsAt('alice', [A('203.0.113.7', 120)]);
    expect(moved()).toBe(true);
    directory.setRecordsAt('alice', []);
    expect(moved()).toBe(true);
    directory.setRecordsAt('nobody', []);
    expect(moved()).toBe(false);
    directory.add('bob');
    expect(moved()).toBe(true);
    directory.add('bob');
    expect(moved()).toBe(false);
    directory.remove('carol');
    expect(moved()).toBe(false);
  });

  test('empty non-terminals: owners above records exist while something below them does', () => {
    const directory = new NameDirectory(['alice']);
    directory.setRecordsAt('sel._domainkey.alice', [TXT('k=1')]);
    expect(directory.hasRecordsBelow('_domainkey.alice')).toBe(true);
    expect(directory.hasRecordsBelow('alice')).toBe(true);
    expect(directory.hasRecordsBelow('sel._domainkey.alice')).toBe(false);
    directory.setRecordsAt('other._domainkey.alice', [TXT('k=2')]);
    directory.setRecordsAt('sel._domainkey.alice', []);
    expect(directory.hasRecordsBelow('_domainkey.alice')).toBe(true);
    directory.setRecordsAt('other._domainkey.alice', []);
    expect(directory.hasRecordsBelow('_domainkey.alice')).toBe(false);
    expect(directory.hasRecordsBelow('alice')).toBe(false);
  });

  test('removing a name drops its records and its sub-names\' records, not a longer name\'s', () => {
    const directory = new NameDirectory(['alice', 'malice'], [
      { owner: 'alice', ...A('203.0.113.7') },
      { owner: 'a.b.alice', ...TXT('x') },
      { owner: 'malice', ...A('203.0.113.8') },
    ]);
    const before = directory.serial();
    directory.remove('alice');
    expect(directory.serial()).toBeGreaterThan(before);
    expect(directory.isClaimed('alice')).toBe(false);
    expect(directory.recordsAt('alice')).toEqual([]);
    expect(directory.recordsAt('a.b.alice')).toEqual([]);
    expect(directory.hasRecordsBelow('alice')).toBe(false);
    expect(directory.hasRecordsBelow('b.alice')).toBe(false);
    expect(directory.recordsAt('malice')).toEqual([A('203.0.113.8')]);
  });

  test('regression: a newly claimed name starts empty, even if a late write left records under it', () => {
    const directory = new NameDirectory([], []);
    // A record write that landed after the name was released (the race the ZoneEditor queue
    // now prevents) must not reach the name's next owner.
    directory.setRecordsAt('reused', [A('203.0.113.1')]);
    directory.setRecordsAt('www.reused', [A('203.0.113.2')]);
    directory.add('reused');
    expect(directory.recordsAt('reused')).toEqual([]);
    expect(directory.recordsAt('www.reused')).toEqual([]);
    expect(directory.isClaimed('reused')).toBe(true);
  });

  test('direct mode: a reachable agent address is answered until cleared, explicit records win, every switch moves the serial', () => {
    const directory = new NameDirectory(['alice', 'bob'], [{ owner: 'bob', ...A('203.0.113.9') }]);
    const start = directory.serial();
    directory.setDirectAddress('alice', 'route-1', '198.51.100.4');
    expect(directory.zoneRecordsAt('alice')).toEqual([A('198.51.100.4')]);
    // Only the DNS view has it: the member's stored records are unchanged.
    expect(directory.recordsAt('alice')).toEqual([]);
    const afterSet = directory.serial();
    expect(afterSet).toBeGreaterThan(start);
    directory.setDirectAddress('alice', 'route-1', '198.51.100.4');
    expect(directory.serial()).toBe(afterSet);
    // Another route's clear (an old tunnel going away) leaves the newer route's address.
    directory.clearDirectAddress('alice', 'route-0');
    expect(directory.zoneRecordsAt('alice')).toEqual([A('198.51.100.4')]);
    directory.clearDirectAddress('alice', 'route-1');
    expect(directory.zoneRecordsAt('alice')).toEqual([]);
    expect(directory.serial()).toBeGreaterThan(afterSet);
    directory.setDirectAddress('alice', 'route-2', '2001:db8::4');
    expect(directory.zoneRecordsAt('alice')).toEqual([{ type: 'AAAA', value: '2001:db8::4', ttl: 60 }]);
    directory.setDirectAddress('bob', 'route-3', '198.51.100.5');
    expect(directory.zoneRecordsAt('bob')).toEqual([A('203.0.113.9')]);
  });
});

