import { describe, expect, it } from 'vitest';
import { FirstHeadReader, isRefusal } from '../proxy/request-head.js';
import { printable, refusedRequestFields } from './refused-request.js';

const DOMAIN = 'example.net';
const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('refusedRequestFields', () => {
  it('a head the front door read: its method, target and name', () => {
    const bytes = latin1(`GET http://shop.example.net/a?b HTTP/1.1\r\nHost: other.example.net\r\n\r\n`);
    const head = new FirstHeadReader().push(bytes);
    if (head === null || isRefusal(head)) throw new Error('expected a head');
    expect(refusedRequestFields(head, bytes, DOMAIN)).toEqual({ name: 'shop', host: null, method: 'GET', target: 'http://shop.example.net/a?b' });
  });

  it('a refused head: the first line, and the host only from a single Host header that reads as one', () => {
    const fields = (text: string) => refusedRequestFields(null, latin1(text), DOMAIN);
    expect(fields('POST /x HTTP/1.1\r\nHost: blog.example.net:8080\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n'))
      .toEqual({ name: 'blog', host: null, method: 'POST', target: '/x' });
    expect(fields('GET / HTTP/1.1\r\nHost: a.example.net\r\nhost: b.example.net\r\n\r\n')).toMatchObject({ name: null, host: null });
    expect(fields('GET / HTTP/1.1\r\nHost: foreign.org\r\n\r\n')).toMatchObject({ name: null, host: 'foreign.org' });
    expect(fields('GET / HTTP/1.1\r\nHost: bad host\r\n\r\n')).toMatchObject({ name: null, host: null });
    // A head still incomplete (431): what there is.
    expect(fields(`GET /long HTTP/1.1\r\nHost: blog.example.net\r\nX-Pad: ${'p'.repeat(40_000)}`)).toMatchObject({ name: 'blog', method: 'GET', target: '/long' });
    expect(fields('\r\n\r\n')).toEqual({ name: null, host: null, method: null, target: null });
  });

  it('garbage comes out printable and cut: %XX for controls, DEL and bytes over 0x7e', () => {
    const fields = refusedRequestFields(null, latin1(`\x1b[31mGE\x00T\x85${'M'.repeat(100)} /p\x9b\x7f\x01 x\r\n\r\n`), DOMAIN);
    expect(fields.method).toBe(`%1B[31mGE%00T%85${'M'.repeat(16)}`);
    expect(fields.method).toHaveLength(32);
    expect(fields.target).toBe('/p\x9b\x7f\x01');
  });
});

describe('printable', () => {
  it('keeps printable ASCII, escapes the rest, cuts at max', () => {
    expect(printable('/plain/path', 100)).toBe('/plain/path');
    expect(printable('a b\tc\nd\u0085e', 100)).toBe('a%20b%09c%0Ad%85e');
    expect(printable('x'.repeat(10), 4)).toBe('xxxx');
    expect(printable('\x00\x00\x00', 4)).toBe('%00');
  });
});
