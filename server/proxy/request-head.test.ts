import { describe, expect, test } from 'vitest';
import { classifyHost, effectiveHost, findHeadEnd, normaliseHost, requestHost, requestLineTarget } from './request-head.js';

const head = (text: string) => Buffer.from(text, 'latin1');

describe('request heads', () => {
  test('finds the end of the head', () => {
    expect(findHeadEnd(head('GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY'))).toBe(27);
    expect(findHeadEnd(head('GET / HTTP/1.1\r\nHost: a\r\n'))).toBe(-1);
  });

  test.each([
    ['GET / HTTP/1.1\r\nHost: Alice.LocalHost:8080\r\n\r\n', 'alice.localhost'],
    ['GET / HTTP/1.1\r\nUser-Agent: x\r\nhost:alice.example.net.\r\n\r\n', 'alice.example.net'],
    ['GET / HTTP/1.1\r\nHOST: \t[::1]:80 \r\n\r\n', '::1'],
    ['GET http://bob.localhost/x HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', 'bob.localhost'],
    ['GET / HTTP/1.0\r\n\r\n', null],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', null],
    ['NOT HTTP\r\nHost: a\r\n\r\n', null],
    ['GET / HTTP/1.1\r\nHost: a b\r\n\r\n', null],
    ['GET / HTTP/1.1\r\nHost: evil/../x\r\n\r\n', null],
    ['GET  / HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', null],
    ['GET http://user@bob.localhost/ HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', null],
  ])('host of %j is %j', (text, expected) => {
    expect(requestHost(head(text))).toBe(expected);
  });

  test('a malformed request line has no target; a good one does', () => {
    expect(requestLineTarget(head('GET  / HTTP/1.1\r\nHost: a\r\n\r\n'))).toBeNull();
    expect(requestLineTarget(head('GET / HTTP/1.1 \r\nHost: a\r\n\r\n'))).toBeNull();
    expect(requestLineTarget(head('GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n'))).toBe('/x?y');
    expect(requestLineTarget(head('OPTIONS * HTTP/1.1\r\n\r\n'))).toBe('*');
  });

  test('regression: the host of an absolute-form target wins over the Host header, for the app as for the front door', () => {
    expect(effectiveHost('http://Localhost:8080/x', 'alice.localhost')).toBe('localhost');
    expect(effectiveHost('/x', 'alice.localhost')).toBe('alice.localhost');
    expect(effectiveHost('/x', undefined)).toBeNull();
  });

  test('normalises hosts and rejects junk', () => {
    expect(normaliseHost('A.B:1')).toBe('a.b');
    expect(normaliseHost('[::1')).toBeNull();
    expect(normaliseHost('x'.repeat(254))).toBeNull();
  });

  test('classifies hosts against the zone', () => {
    expect(classifyHost('localhost', 'localhost')).toEqual({ kind: 'apex' });
    expect(classifyHost('127.0.0.1', 'localhost')).toEqual({ kind: 'apex' });
    expect(classifyHost(null, 'localhost')).toEqual({ kind: 'apex' });
    expect(classifyHost('alice.localhost', 'localhost')).toEqual({ kind: 'name', label: 'alice' });
    expect(classifyHost('a.b.localhost', 'localhost')).toEqual({ kind: 'foreign' });
    expect(classifyHost('alice.example.org', 'example.net')).toEqual({ kind: 'foreign' });
    expect(classifyHost('evil-localhost', 'localhost')).toEqual({ kind: 'foreign' });
  });
});
