import path from 'node:path';
import { ForbiddenError, InsufficientStorageError, LockedError } from 'nephele';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import {
  DavMetadataStore,
  DavStorageFullError,
  MAX_DAV_LOCK_OWNER_BYTES,
  MAX_DAV_LOCKS,
  MAX_DAV_LOCKS_PER_RESOURCE,
  MAX_DAV_METADATA_BYTES,
  MAX_DAV_METADATA_ENTRIES,
  MAX_DAV_PROPERTIES_PER_RESOURCE,
  MAX_DAV_PROPERTY_BYTES,
  type MetaStorage,
} from './dav-metadata-store.js';

const HOUR = 60 * 60 * 1000;
const root = path.resolve('/share');
const key = (name: string) => path.join(root, name);

/** Adds a lock the way nephele's Lock.save does: read, add a record, save. */
function lock(store: DavMetadataStore, name: string, token: string, owner: unknown = 'me', timeout = HOUR): void {
  const meta = store.read(key(name));
  meta.locks ??= {};
  meta.locks[token] = { username: 'nobody', date: Date.now(), timeout, scope: 'shared', depth: '0', provisional: false, owner };
  store.write(key(name), meta);
}

function setProps(store: DavMetadataStore, name: string, props: Record<string, unknown>): void {
  const meta = store.read(key(name));
  meta.props = { ...meta.props, ...props };
  store.write(key(name), meta);
}

function props(count: number, value: string): Record<string, unknown> {
  return Object.fromEntries(Array.from({ length: count }, (_, index) => [`urn:z%%p${index}`, value]));
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

test('what read() returns can be edited as nephele does without changing what is kept', () => {
  const store = new DavMetadataStore();
  setProps(store, 'a.txt', { 'urn:z%%x': { value: ['1'] } });
  lock(store, 'a.txt', 'urn:uuid:1');
  const meta = store.read(key('a.txt'));
  delete meta.locks!['urn:uuid:1'];
  meta.props!['urn:z%%y'] = '2';
  expect(() => { (meta.props!['urn:z%%x'] as { value: string[] }).value.push('2'); }).toThrow(TypeError);
  expect(store.read(key('a.txt'))).toEqual({
    props: { 'urn:z%%x': { value: ['1'] } },
    locks: { 'urn:uuid:1': expect.objectContaining({ owner: 'me' }) },
  });
});

test('shared locks stop at the per-resource limit with 423; a refresh of a kept lock still saves', () => {
  const store = new DavMetadataStore();
  for (let index = 0; index < MAX_DAV_LOCKS_PER_RESOURCE; index += 1) lock(store, 'a.txt', `urn:uuid:${index}`);
  expect(() => lock(store, 'a.txt', 'urn:uuid:extra')).toThrow(LockedError);
  expect(store.locks).toBe(MAX_DAV_LOCKS_PER_RESOURCE);
  vi.advanceTimersByTime(HOUR / 2);
  lock(store, 'a.txt', 'urn:uuid:0');
  expect(Object.keys(store.read(key('a.txt')).locks!)).toHaveLength(MAX_DAV_LOCKS_PER_RESOURCE);
});

test('a lock owner past the limit is refused with 403 and nothing is kept', () => {
  const store = new DavMetadataStore();
  expect(() => lock(store, 'a.txt', 'urn:uuid:1', { href: ['x'.repeat(MAX_DAV_LOCK_OWNER_BYTES)] })).toThrow(ForbiddenError);
  expect(store.read(key('a.txt'))).toEqual({});
  expect(store.size).toBe(0);
});

test('the share lock limit answers 507 until locks expire, and expired locks are swept to make room', () => {
  const store = new DavMetadataStore();
  for (let index = 0; index < MAX_DAV_LOCKS; index += 1) {
    lock(store, `f${Math.floor(index / MAX_DAV_LOCKS_PER_RESOURCE)}.txt`, `urn:uuid:${index}`);
  }
  expect(store.locks).toBe(MAX_DAV_LOCKS);
  let refusal: unknown;
  try {
    lock(store, 'other.txt', 'urn:uuid:new');
  } catch (error) {
    refusal = error;
  }
  expect(refusal).toBeInstanceOf(DavStorageFullError);
  expect(refusal).toBeInstanceOf(InsufficientStorageError);
  vi.advanceTimersByTime(HOUR);
  lock(store, 'other.txt', 'urn:uuid:new');
  expect(store.locks).toBe(1);
  expect(store.read(key('f0.txt'))).toEqual({});
});

test('properties: 64 per resource (507 past it), 4 KiB each (403 past it)', () => {
  const store = new DavMetadataStore();
  setProps(store, 'a.txt', props(MAX_DAV_PROPERTIES_PER_RESOURCE, 'v'));
  expect(() => setProps(store, 'a.txt', { 'urn:z%%more': 'v' })).toThrow(DavStorageFullError);
  // Replacing one of the 64 is still allowed.
  setProps(store, 'a.txt', { 'urn:z%%p0': 'w' });
  expect(store.read(key('a.txt')).props!['urn:z%%p0']).toBe('w');
  expect(() => setProps(store, 'b.txt', { 'urn:z%%big': 'x'.repeat(MAX_DAV_PROPERTY_BYTES) })).toThrow(ForbiddenError);
  expect(store.read(key('b.txt'))).toEqual({});
});

test('the store stays within its byte budget: oldest property-only entries go first, locks are never evicted', () => {
  const store = new DavMetadataStore();
  lock(store, 'locked.txt', 'urn:uuid:1');
  setProps(store, 'locked.txt', { 'urn:z%%x': 'kept' });
  const large = props(MAX_DAV_PROPERTIES_PER_RESOURCE, 'v'.repeat(MAX_DAV_PROPERTY_BYTES - 100));
  const perEntry = MAX_DAV_PROPERTIES_PER_RESOURCE * MAX_DAV_PROPERTY_BYTES;
  const files = Math.ceil((2 * MAX_DAV_METADATA_BYTES) / perEntry);
  for (let index = 0; index < files; index += 1) {
    setProps(store, `f${index}.txt`, large);
    expect(store.size).toBeLessThanOrEqual(MAX_DAV_METADATA_BYTES);
  }
  expect(store.read(key('f0.txt'))).toEqual({});
  expect(store.read(key(`f${files - 1}.txt`)).props).toBeDefined();
  expect(store.read(key('locked.txt')).props).toEqual({ 'urn:z%%x': 'kept' });
  expect(store.locks).toBe(1);
});

test('at most MAX_DAV_METADATA_ENTRIES entries are kept; forget() releases what they counted', () => {
  const store = new DavMetadataStore();
  for (let index = 0; index <= MAX_DAV_METADATA_ENTRIES; index += 1) setProps(store, path.join('dir', `f${index}.txt`), { 'urn:z%%x': '1' });
  expect(store.read(key('dir/f0.txt'))).toEqual({});
  expect(store.read(key('dir/f1.txt')).props).toBeDefined();
  store.forget(key('dir'), true);
  expect(store.size).toBe(0);
});

test('COPY and MOVE carry properties, never locks', () => {
  const store = new DavMetadataStore();
  setProps(store, 'a.txt', { 'urn:z%%x': '1' });
  lock(store, 'a.txt', 'urn:uuid:1');
  store.copyProperties(key('a.txt'), key('b.txt'));
  const copied: MetaStorage = store.read(key('b.txt'));
  expect(copied).toEqual({ props: { 'urn:z%%x': '1' } });
  expect(store.locks).toBe(1);
});
