import { expect, test } from 'vitest';
import { memberRecord, parseCaa, splitTxt } from './zone-records.js';

test('splitTxt cuts by UTF-8 bytes into 255-byte strings; empty stays one empty string', () => {
  expect(splitTxt('')).toEqual([Buffer.alloc(0)]);
  expect(splitTxt('a'.repeat(255)).map((s) => s.length)).toEqual([255]);
  expect(splitTxt('a'.repeat(256)).map((s) => s.length)).toEqual([255, 1]);
  // 200 two-byte characters: 400 bytes, cut between the bytes of one character and rejoined.
  const accented = 'é'.repeat(200);
  const parts = splitTxt(accented);
  expect(parts.map((s) => s.length)).toEqual([255, 145]);
  expect(Buffer.concat(parts).toString('utf8')).toBe(accented);
});

test('parseCaa reads zone-file CAA text', () => {
  expect(parseCaa('0 issue "letsencrypt.org"')).toEqual({ flags: 0, tag: 'issue', value: 'letsencrypt.org' });
  expect(parseCaa('128  iodef  "mailto:ca@example.net"')).toEqual({ flags: 128, tag: 'iodef', value: 'mailto:ca@example.net' });
  expect(parseCaa('0 issuewild ;')).toEqual({ flags: 0, tag: 'issuewild', value: ';' });
  expect(parseCaa('0 issue "ca.example; account=\\"42\\""')).toEqual({ flags: 0, tag: 'issue', value: 'ca.example; account="42"' });
  expect(parseCaa('0 issue ""')).toEqual({ flags: 0, tag: 'issue', value: '' });
  for (const bad of ['', 'issue "x"', '256 issue "x"', '0 "x"', '0 is-sue "x"', '0 issue']) expect(parseCaa(bad), bad).toBeNull();
});

test('memberRecord keeps TTLs on the wire within 0..2^31-1 and CNAME targets without the root dot', () => {
  expect(memberRecord('a.test', { type: 'A', value: '192.0.2.1', ttl: -5 }).ttl).toBe(0);
  expect(memberRecord('a.test', { type: 'A', value: '192.0.2.1', ttl: 2 ** 40 }).ttl).toBe(0x7fffffff);
  expect(memberRecord('a.test', { type: 'A', value: '192.0.2.1', ttl: 59.9 }).ttl).toBe(59);
  expect(memberRecord('a.test', { type: 'CNAME', value: 'b.example.', ttl: 60 }).domain).toBe('b.example');
});
