import { describe, expect, test } from 'vitest';
import {
  FirstHeadReader, MAX_REQUEST_HEAD_BYTES, classifyHost, effectiveHost, findHeadEnd, httpsLocation, isRefusal,
  normaliseHost, readFirstHead, type HeadRefusal, type RequestHead,
} from './request-head.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** The front door's verdict on a connection whose first bytes are `text`. */
function read(text: string): RequestHead | HeadRefusal | null {
  return readFirstHead(bytes(text));
}

function routed(text: string): RequestHead {
  const verdict = read(text);
  if (verdict === null || isRefusal(verdict)) throw new Error(`not routed: ${JSON.stringify(verdict)}`);
  return verdict;
}

const H = 'Host: alice.localhost';

describe('request heads', () => {
  test('finds the end of the head', () => {
    expect(findHeadEnd(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY'))).toBe(27);
    expect(findHeadEnd(bytes('GET / HTTP/1.1\r\nHost: a\r\n'))).toBe(-1);
    expect(read('GET / HTTP/1.1\r\nHost: a\r\n')).toBeNull();
  });

  test.each([
    ['GET / HTTP/1.1\r\nHost: Alice.LocalHost:8080\r\n\r\n', 'alice.localhost'],
    ['GET / HTTP/1.1\r\nUser-Agent: x\r\nhost:alice.example.net.\r\n\r\n', 'alice.example.net'],
    ['GET / HTTP/1.1\r\nHOST: \t[::1]:80 \r\n\r\n', '::1'],
    ['GET http://bob.localhost/x HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', 'bob.localhost'],
    ['GET http://bob.localhost?x HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', 'bob.localhost'],
    ['GET / HTTP/1.0\r\n\r\n', null],
    ['GET / HTTP/1.1\r\nHost:\r\n\r\n', null],
    ['GET / HTTP/1.1\r\nHost: alice.localhost:\r\n\r\n', 'alice.localhost'],
  ])('host of %j is %j', (text, expected) => {
    expect(routed(text).host).toBe(expected);
  });

  test.each([
    'GET / HTTP/2.0\r\nHost: a\r\n\r\n',
    'NOT HTTP\r\nHost: a\r\n\r\n',
    'GET  / HTTP/1.1\r\nHost: alice.localhost\r\n\r\n',
    'GET / HTTP/1.1 \r\nHost: a\r\n\r\n',
    '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
  ])('the malformed request line %j is refused with 400', (text) => {
    expect(read(text)).toMatchObject({ status: 400 });
  });

  test('a good request line gives its target and path', () => {
    expect(routed('GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n')).toMatchObject({ target: '/x?y', path: '/x?y' });
    expect(routed('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n')).toMatchObject({ target: '*', path: null });
    expect(routed('CONNECT a.localhost:443 HTTP/1.1\r\nHost: a.localhost\r\n\r\n')).toMatchObject({ path: null, upgrade: true, host: 'a.localhost' });
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
    expect(normaliseHost('[::FFFF:127.0.0.1]:8')).toBe('::ffff:127.0.0.1');
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

  test('the reader finds a blank line cut anywhere, byte by byte too, and keeps every byte', () => {
    const text = `GET /x HTTP/1.1\r\n${H}\r\n\r\nBODY`;
    for (let cut = 1; cut < text.length; cut++) {
      const reader = new FirstHeadReader();
      const first = reader.push(bytes(text.slice(0, cut)));
      const verdict = first ?? reader.push(bytes(text.slice(cut)));
      expect(verdict, `cut at ${cut}`).toMatchObject({ end: text.length - 4, host: 'alice.localhost' });
      expect(reader.bytes().toString('latin1')).toBe(first === null ? text : text.slice(0, cut));
    }
    const reader = new FirstHeadReader();
    const verdicts = [...bytes(text)].map((byte) => reader.push(Buffer.from([byte])));
    expect(verdicts.findIndex((verdict) => verdict !== null)).toBe(text.length - 5);
  });

  test('the 308 Location is built from the checked head: host, port, origin-form path', () => {
    expect(httpsLocation(routed(`GET /a?b HTTP/1.1\r\nHost: Alice.Localhost:80\r\n\r\n`), 443)).toBe('https://alice.localhost/a?b');
    expect(httpsLocation(routed('GET http://bob.localhost?x HTTP/1.1\r\nHost: bob.localhost\r\n\r\n'), 8443)).toBe('https://bob.localhost:8443/?x');
    expect(httpsLocation(routed('GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n'), 8443)).toBe('https://[::1]:8443/');
    expect(httpsLocation(routed('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'), 8443)).toBeNull();
    expect(httpsLocation(routed('GET / HTTP/1.0\r\n\r\n'), 8443)).toBeNull();
  });
});

/*
 * Found by differential fuzzing against llhttp (request-head.fuzz.test.ts): heads the front door
 * routed into a member's tunnel (or answered with a 308) by a reading llhttp (the edge's
 * http.Server, the agent's rewriter's model) does not share. Each was routed to alice's tunnel.
 */
describe('regressions: heads routed by a reading llhttp does not share', () => {
  test.each([
    ['obs-fold after the Host line', `GET / HTTP/1.1\r\n${H}\r\n folded\r\n\r\n`],
    ['a bare LF inside a later header line', `GET / HTTP/1.1\r\n${H}\r\nX: a\nHost: bob.localhost\r\n\r\n`],
    ['a line without a colon', `GET / HTTP/1.1\r\n${H}\r\n0\r\n\r\n`],
    ['a NUL in a value', `GET / HTTP/1.1\r\n${H}\r\nX: a\0b\r\n\r\n`],
    ['DEL in a value', `GET / HTTP/1.1\r\n${H}\r\nX: a\x7f\r\n\r\n`],
    ['a form feed before the Host value (String.trim ate it)', 'GET / HTTP/1.1\r\nHost: \falice.localhost\r\n\r\n'],
  ])('regression: %s is 400, not routed by the Host the line regex found', (_what, text) => {
    expect(read(text)).toMatchObject({ status: 400 });
  });

  test.each([
    ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\n${H}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n`],
    ['two equal Content-Lengths', `POST / HTTP/1.1\r\n${H}\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc`],
    ['a Content-Length with a sign', `POST / HTTP/1.1\r\n${H}\r\nContent-Length: +3\r\n\r\nabc`],
    ['a Content-Length ending in a tab', `POST / HTTP/1.1\r\n${H}\r\nContent-Length: 3\t\r\n\r\nabc`],
    ['Transfer-Encoding other than chunked', `POST / HTTP/1.1\r\n${H}\r\nTransfer-Encoding: identity\r\n\r\n`],
  ])('regression: a head llhttp refuses for its framing (%s) is 400, not routed', (_what, text) => {
    expect(read(text)).toMatchObject({ status: 400 });
  });

  test('regression: two Host headers are 400 (node:http reads the first, other servers the last), never a tunnel or a 308', () => {
    expect(read(`GET / HTTP/1.1\r\n${H}\r\nHost: bob.localhost\r\n\r\n`)).toMatchObject({ status: 400 });
    expect(read(`GET / HTTP/1.1\r\nhost: bob.localhost\r\n${H}\r\n\r\n`)).toMatchObject({ status: 400 });
  });

  test.each([
    ['a trailing NBSP, which String.trim ate', 'alice.localhost\xa0'],
    ['a leading NBSP', '\xa0alice.localhost'],
    ['a port that is not digits', 'alice.localhost:abc'],
    ['two ports', 'alice.localhost:80:90'],
    ['a port followed by junk', 'alice.localhost:80 x'],
    ['a port followed by userinfo', 'alice.localhost:@bob.localhost'],
    ['a name in brackets', '[alice.localhost]'],
  ])('regression: a Host with %s is 400, not routed to alice.localhost (llhttp-based code reads another host)', (_what, value) => {
    expect(read(`GET / HTTP/1.1\r\nHost: ${value}\r\n\r\n`)).toMatchObject({ status: 400 });
  });

  test.each([
    ['a port that is not digits', 'http://alice.localhost:8a/'],
    ['a name in brackets', 'http://[alice.localhost]/'],
  ])('regression: an absolute-form target with %s is 400, not routed to alice.localhost', (_what, target) => {
    expect(read(`GET ${target} HTTP/1.1\r\n${H}\r\n\r\n`)).toMatchObject({ status: 400 });
  });

  test.each([
    ['a byte over 0x7e', 'GET /a\x80 HTTP/1.1'],
    ['DEL', 'GET /a\x7f HTTP/1.1'],
  ])('regression: a target with %s (llhttp: invalid char in url) is 400, not routed', (_what, line) => {
    expect(read(`${line}\r\n${H}\r\n\r\n`)).toMatchObject({ status: 400 });
  });

  test('regression: a head ending past 32 KiB is 431 whether it came in one chunk or several', () => {
    const head = `GET / HTTP/1.1\r\n${H}\r\nX-Pad: ${'p'.repeat(MAX_REQUEST_HEAD_BYTES)}\r\n\r\n`;
    expect(read(head)).toMatchObject({ status: 431 });
    const reader = new FirstHeadReader();
    expect(reader.push(bytes(head.slice(0, 100)))).toBeNull();
    expect(reader.push(bytes(head.slice(100)))).toMatchObject({ status: 431 });
    // One byte shorter than the limit, and at it, is read.
    const fits = `GET / HTTP/1.1\r\n${H}\r\nX-Pad: ${'p'.repeat(MAX_REQUEST_HEAD_BYTES - 50)}\r\n\r\n`;
    const atLimit = fits.replace('X-Pad: ', `X-Pad: ${'p'.repeat(MAX_REQUEST_HEAD_BYTES - fits.length)}`);
    expect(atLimit.length).toBe(MAX_REQUEST_HEAD_BYTES);
    expect(routed(atLimit).end).toBe(MAX_REQUEST_HEAD_BYTES);
    expect(read(`${atLimit.slice(0, -4)}x\r\n\r\n`)).toMatchObject({ status: 431 });
  });

  test('regression: upgrade is what llhttp calls one (Upgrade and a Connection upgrade token, or CONNECT), read in the head only', () => {
    const isUpgrade = (text: string) => { const head = readFirstHead(bytes(text)); return head !== null && !isRefusal(head) && head.upgrade; };
    const upgrade = (lines: string, after = '') => isUpgrade(`GET / HTTP/1.1\r\n${H}\r\n${lines}\r\n${after}`);
    expect(upgrade('Upgrade: websocket\r\nConnection: Upgrade\r\n')).toBe(true);
    expect(upgrade('Upgrade: websocket\r\nConnection: keep-alive,upgrade \r\n')).toBe(true);
    expect(upgrade('Upgrade: websocket\r\nProxy-Connection: upgrade\r\n')).toBe(true);
    // Exempt from the idle reclaim: a plain request may not pass for an upgrade (llhttp: no upgrade).
    expect(upgrade('Upgrade: websocket\r\n')).toBe(false);
    expect(upgrade('Upgrade: websocket\r\nConnection: upgrade\t\r\n')).toBe(false);
    expect(upgrade('Upgrade: websocket\r\nConnection: xupgrade\r\n')).toBe(false);
    expect(upgrade('Upgrade:\r\nConnection: upgrade\r\n')).toBe(false);
    expect(upgrade('Content-Length: 40\r\n', 'x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n')).toBe(false);
    expect(isUpgrade(`CONNECT alice.localhost:443 HTTP/1.1\r\n${H}\r\n\r\n`)).toBe(true);
  });
});

/*
 * Refused for clarity rather than because llhttp-based code read them another way (the old
 * reading agreed with the edge's app on these, or llhttp refused them there): RFC 9112 §3.2 and
 * RFC 9110 §4.2 answer them 400, and so does the agent's rewriter for most.
 */
describe('the front door answers 400 to heads that name no clear host', () => {
  test.each([
    ['a folded Host line', `GET / HTTP/1.1\r\nX: y\r\n ${H}\r\n\r\n`],
    ['a bare CR inside the Host value', `GET / HTTP/1.1\r\n${H}\rbob\r\n\r\n`],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : alice.localhost\r\n\r\n'],
    ['a Host with a space inside', 'GET / HTTP/1.1\r\nHost: alice.localhost evil\r\n\r\n'],
    ['a Host of empty brackets', 'GET / HTTP/1.1\r\nHost: []\r\n\r\n'],
    ['a Host with an IPv6 literal followed by junk', 'GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n'],
    ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: user@alice.localhost\r\n\r\n'],
    ['a Host list', 'GET / HTTP/1.1\r\nHost: alice.localhost,bob.localhost\r\n\r\n'],
    ['a Host with a byte over 0x7f', 'GET / HTTP/1.1\r\nHost: al\xe9ce.localhost\r\n\r\n'],
    ['a Host with a percent escape', 'GET / HTTP/1.1\r\nHost: alice%2elocalhost\r\n\r\n'],
    ['a target URL of another scheme (the Host header decided)', `GET ftp://alice.localhost/ HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a ws: target URL', `GET ws://alice.localhost/ HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a target URL with an empty host', `GET http:///x HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a target URL with no authority', `GET http:// HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a target URL with userinfo', `GET http://user@bob.localhost/ HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a target URL with an unclosed IPv6 literal', `GET http://[::1/ HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a target that is no form of target', `GET a/b HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a query alone as target', `GET ?x HTTP/1.1\r\n${H}\r\n\r\n`],
    ['an asterisk with more', `GET *x HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a lower-case CONNECT', `connect alice.localhost:443 HTTP/1.1\r\n${H}\r\n\r\n`],
    ['a CONNECT to a path', `CONNECT /x HTTP/1.1\r\n${H}\r\n\r\n`],
    ['PRI, which llhttp waits on for an HTTP/2 preface', `PRI /x HTTP/1.0\r\n${H}\r\n\r\n`],
  ])('%s is 400', (_what, text) => {
    expect(read(text)).toMatchObject({ status: 400 });
  });

  test('an HTTP/1.1 request without Host is 400 here, as node:http and the agent answer it', () => {
    expect(read('GET / HTTP/1.1\r\nAccept: */*\r\n\r\n')).toMatchObject({ status: 400 });
    expect(routed('GET / HTTP/1.0\r\nAccept: */*\r\n\r\n').host).toBeNull();
  });
});
