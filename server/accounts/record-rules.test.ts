import { describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/errors.js';
import { MAX_TXT_LENGTH, canonicalValue, checkTtl, parseOwner, parseRecordType, relativeOwner } from './record-rules.js';

function codeOf(work: () => unknown): string {
  try {
    work();
    return 'no error';
  } catch (error) {
    return isUdnsError(error) ? error.code : `not a UdnsError: ${String(error)}`;
  }
}

describe('owners', () => {
  test.each([
    ['alice', 'alice'],
    ['Alice', 'alice'],
    ['www.alice', 'www.alice'],
    ['www.alice.example.net', 'www.alice'],
    ['WWW.Alice.Example.Net.', 'www.alice'],
    ['_acme-challenge.alice.example.net', '_acme-challenge.alice'],
  ])('%s is %s relative to example.net', (input, owner) => {
    expect(relativeOwner(input, 'example.net')).toBe(owner);
  });

  test('the apex, empty and over-long names are refused', () => {
    expect(codeOf(() => relativeOwner('example.net', 'example.net'))).toBe('record_invalid');
    expect(codeOf(() => relativeOwner('example.net.', 'example.net'))).toBe('record_invalid');
    expect(codeOf(() => relativeOwner('', 'example.net'))).toBe('record_invalid');
    expect(codeOf(() => relativeOwner(`${'a'.repeat(60)}.`.repeat(4) + 'alice', 'example.net'))).toBe('record_invalid');
  });

  test('an owner splits into the claimed name and the path below it', () => {
    expect(parseOwner('alice')).toEqual({ label: 'alice', host: '' });
    expect(parseOwner('www.alice')).toEqual({ label: 'alice', host: 'www' });
    expect(parseOwner('_acme-challenge.www.alice')).toEqual({ label: 'alice', host: '_acme-challenge.www' });
  });

  test('malformed owners are refused with the code of the bad part', () => {
    expect(codeOf(() => parseOwner('al_ice'))).toBe('name_invalid');
    expect(codeOf(() => parseOwner('-alice'))).toBe('name_invalid');
    expect(codeOf(() => parseOwner('.alice'))).toBe('record_invalid');
    expect(codeOf(() => parseOwner('a..alice'))).toBe('record_invalid');
    expect(codeOf(() => parseOwner('-www.alice'))).toBe('record_invalid');
    expect(codeOf(() => parseOwner('w w.alice'))).toBe('record_invalid');
    expect(codeOf(() => parseOwner('*.alice'))).toBe('record_invalid');
    expect(codeOf(() => parseOwner(`${'a'.repeat(64)}.alice`))).toBe('record_invalid');
  });
});

describe('values', () => {
  test('A takes dotted-decimal IPv4 only', () => {
    expect(canonicalValue('A', '203.0.113.7')).toBe('203.0.113.7');
    for (const bad of ['203.0.113', '256.0.0.1', '01.2.3.4', ' 1.2.3.4', '2001:db8::1', 'example.com', '']) {
      expect(codeOf(() => canonicalValue('A', bad))).toBe('record_invalid');
    }
  });

  test('AAAA takes IPv6 and stores the compressed lowercase form', () => {
    expect(canonicalValue('AAAA', '2001:DB8:0:0::0:1')).toBe('2001:db8::1');
    expect(canonicalValue('AAAA', '::')).toBe('::');
    for (const bad of ['203.0.113.7', 'fe80::1%eth0', '2001:db8::g', '']) {
      expect(codeOf(() => canonicalValue('AAAA', bad))).toBe('record_invalid');
    }
  });

  test('CNAME takes a full host name, lowercased, trailing dot dropped', () => {
    expect(canonicalValue('CNAME', 'Host.Example.COM.')).toBe('host.example.com');
    expect(canonicalValue('CNAME', 'bob.example.net')).toBe('bob.example.net');
    for (const bad of ['localhost', 'a..b', 'exa mple.com', 'http://example.com', '', '.', '-a.com', `${'a'.repeat(250)}.com`]) {
      expect(codeOf(() => canonicalValue('CNAME', bad))).toBe('record_invalid');
    }
  });

  test('TXT takes up to 2048 printable ASCII characters, unchanged', () => {
    expect(canonicalValue('TXT', 'v=spf1 -all "quoted" \\ back')).toBe('v=spf1 -all "quoted" \\ back');
    expect(canonicalValue('TXT', '')).toBe('');
    expect(canonicalValue('TXT', 'x'.repeat(MAX_TXT_LENGTH))).toHaveLength(MAX_TXT_LENGTH);
    for (const bad of ['x'.repeat(MAX_TXT_LENGTH + 1), 'line\nbreak', 'tab\there', 'naïve', 'nul\0']) {
      expect(codeOf(() => canonicalValue('TXT', bad))).toBe('record_invalid');
    }
  });

  test('TTLs are whole seconds from 30 to 86400; record types any case', () => {
    expect(checkTtl(undefined)).toBeUndefined();
    expect(checkTtl(30)).toBe(30);
    expect(checkTtl(86_400)).toBe(86_400);
    for (const bad of [29, 86_401, 1.5, -1, Number.NaN]) expect(codeOf(() => checkTtl(bad))).toBe('record_invalid');
    expect(parseRecordType('aaaa')).toBe('AAAA');
    expect(codeOf(() => parseRecordType('MX'))).toBe('record_invalid');
  });
});
