import { afterEach, describe, expect, test, vi } from 'vitest';
import type { VisitorInfo } from '../../protocol/index.js';
import { MAX_REQUEST_HEAD_BYTES, REQUEST_HEAD_TIMEOUT_MS, RequestHeadRewriter, type RequestRejection } from './request-head-rewriter.js';

const visitor: VisitorInfo = { routeId: 'r', remoteAddress: '198.51.100.7', remotePort: 4000, scheme: 'http', host: 'alice.localhost:8080' };

/** Feeds `chunks` through a rewriter; returns what the origin would receive and any refusal. */
async function rewrite(chunks: Array<string | Buffer>, publicHost: string | null = 'alice.localhost', from: VisitorInfo = visitor): Promise<{ out: string; rejected: RequestRejection | null }> {
  const rewriter = new RequestHeadRewriter(from, publicHost);
  let rejected: RequestRejection | null = null;
  rewriter.on('rejected', (r: RequestRejection) => { rejected = r; });
  const out: Buffer[] = [];
  rewriter.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => rewriter.on('end', resolve));
  for (const chunk of chunks) rewriter.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  rewriter.end();
  await ended;
  return { out: Buffer.concat(out).toString('latin1'), rejected };
}

/** The forwarding headers the rewriter writes for `visitor` and a request with this Host. */
function fwd(host: string, port: number): string {
  return `X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ${host}\r\nX-Forwarded-Port: ${port}\r\n`
    + `X-Real-IP: 198.51.100.7\r\nForwarded: for=198.51.100.7;proto=http;host=${host.includes(':') ? `"${host}"` : host}\r\n`;
}
const FWD = fwd('alice.localhost:8080', 8080);

/** Every header named `name` (any case) in the head of `out`, in order. */
function headerValues(out: string, name: string): string[] {
  return out.split('\r\n\r\n')[0]!.split('\r\n').slice(1)
    .filter((line) => line.slice(0, line.indexOf(':')).toLowerCase() === name.toLowerCase())
    .map((line) => line.slice(line.indexOf(':') + 1).trim());
}

describe('RequestHeadRewriter', () => {
  test('adds the forwarding headers to a simple request and keeps everything else byte for byte', async () => {
    const { out, rejected } = await rewrite(['GET /a?b=c HTTP/1.1\r\nHost: alice.localhost:8080\r\nUser-Agent: t\r\n\r\n']);
    expect(rejected).toBeNull();
    expect(out).toBe(`GET /a?b=c HTTP/1.1\r\nHost: alice.localhost:8080\r\nUser-Agent: t\r\n${FWD}\r\n`);
  });

  test('regression: a visitor\'s own X-Forwarded-For is dropped, not kept before ours; spoofed -Proto/-Host replaced', async () => {
    const { out } = await rewrite(['GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-proto: https\r\nX-Forwarded-Host: evil.example\r\n\r\n']);
    expect(headerValues(out, 'x-forwarded-for')).toEqual(['198.51.100.7']);
    expect(out).not.toContain('10.0.0.1');
    expect(out).toContain('X-Forwarded-Proto: http\r\n');
    expect(out).not.toContain('https');
    expect(out).not.toContain('evil.example');
  });

  test.each([
    ['Forwarded', 'for=10.0.0.1;proto=https'],
    ['X-Real-IP', '10.0.0.1'],
    ['X-Client-IP', '10.0.0.1'],
    ['True-Client-IP', '10.0.0.1'],
    ['CF-Connecting-IP', '10.0.0.1'],
    ['Fastly-Client-IP', '10.0.0.1'],
    ['X-Cluster-Client-IP', '10.0.0.1'],
    ['X-Forwarded-Port', '10001'],
    ['X-Forwarded-Prefix', '/10.0.0.1'],
    ['X-Forwarded-Server', '10.0.0.1'],
    ['X-Forwarded-Ssl', 'on 10.0.0.1'],
    ['X_Forwarded_For', '10.0.0.1'],
    ['x_real_ip', '10.0.0.1'],
    ['X-Forwarded_For', '10.0.0.1'],
  ])('regression: a visitor\'s %s never reaches the origin; ours does, once', async (name, value) => {
    const { out, rejected } = await rewrite([`GET / HTTP/1.1\r\nHost: alice.localhost:8080\r\n${name}: ${value}\r\n\r\n`]);
    expect(rejected).toBeNull();
    expect(out).not.toContain('10.0.0.1');
    expect(out).not.toContain('10001');
    expect(out).toBe(`GET / HTTP/1.1\r\nHost: alice.localhost:8080\r\n${FWD}\r\n`);
  });

  test('regression: an X-Forwarded-For sent as a chunked trailer does not reach the origin; other trailers do', async () => {
    const { out, rejected } = await rewrite(['POST / HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Forwarded-For: 10.0.0.1\r\nX-Checksum: 1\r\nx_real_ip: 10.0.0.2\r\n\r\n']);
    expect(rejected).toBeNull();
    expect(out).not.toContain('10.0.0.');
    expect(out.endsWith('3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n')).toBe(true);
  });

  test('a Connection header cannot ask a proxy at the origin to strip our forwarding headers', async () => {
    const { out } = await rewrite(['GET / HTTP/1.1\r\nHost: alice.localhost\r\nConnection: keep-alive, X-Forwarded-For, x_real_ip, Forwarded\r\n\r\n']);
    expect(headerValues(out, 'connection')).toEqual(['keep-alive']);
    expect(headerValues(out, 'x-forwarded-for')).toEqual(['198.51.100.7']);
  });

  test.each([
    ['2001:db8::7', 'for="[2001:db8::7]"', '2001:db8::7'],
    ['::ffff:198.51.100.7', 'for=198.51.100.7', '198.51.100.7'],
    ['', 'for=unknown', 'unknown'],
  ])('visitor address %j: X-Forwarded-For %s, Forwarded as RFC 7239 writes it', async (remoteAddress, forwarded, plain) => {
    const { out } = await rewrite(['GET / HTTP/1.1\r\nHost: alice.localhost\r\n\r\n'], 'alice.localhost', { ...visitor, remoteAddress, scheme: 'https' });
    expect(headerValues(out, 'x-forwarded-for')).toEqual([plain]);
    expect(headerValues(out, 'x-real-ip')).toEqual([plain]);
    expect(headerValues(out, 'x-forwarded-port')).toEqual(['443']);
    expect(headerValues(out, 'forwarded')).toEqual([`${forwarded};proto=https;host=alice.localhost`]);
  });

  describe('behind a trusted proxy (VisitorInfo.forwardedTrusted)', () => {
    const proxied: VisitorInfo = { ...visitor, remoteAddress: '10.9.0.2', forwardedTrusted: true };

    test('each request\'s client is the last X-Forwarded-For entry (the one the proxy added) and its proto', async () => {
      const { out, rejected } = await rewrite([
        'GET /1 HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.5\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 6.6.6.6\r\n\r\n',
        'GET /2 HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 2001:db8::9\r\nX-Forwarded-Proto: http\r\n\r\n',
      ], 'alice.localhost', proxied);
      expect(rejected).toBeNull();
      const [first, second] = out.split('GET /2');
      expect(headerValues(first!, 'x-forwarded-for')).toEqual(['203.0.113.5']);
      expect(headerValues(first!, 'x-real-ip')).toEqual(['203.0.113.5']);
      expect(headerValues(first!, 'forwarded')).toEqual(['for=203.0.113.5;proto=https;host=alice.localhost']);
      expect(headerValues(first!, 'x-forwarded-port')).toEqual(['443']);
      expect(headerValues(`GET /2${second}`, 'x-forwarded-for')).toEqual(['2001:db8::9']);
      expect(headerValues(`GET /2${second}`, 'x-forwarded-proto')).toEqual(['http']);
      expect(out).not.toContain('6.6.6.6');
    });

    test('a proxy that added no usable address or proto leaves the TCP peer and the edge\'s scheme', async () => {
      for (const spoof of ['', 'X-Forwarded-For: 203.0.113.5, not-an-address\r\nX-Forwarded-Proto: gopher\r\n', 'X_Forwarded_For: 203.0.113.5\r\n']) {
        const { out } = await rewrite([`GET / HTTP/1.1\r\nHost: alice.localhost\r\n${spoof}\r\n`], 'alice.localhost', proxied);
        expect(headerValues(out, 'x-forwarded-for')).toEqual(['10.9.0.2']);
        expect(headerValues(out, 'x-forwarded-proto')).toEqual(['http']);
      }
    });

    test('without the mark, the same request is believed not at all', async () => {
      const { out } = await rewrite(['GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 203.0.113.5\r\nX-Forwarded-Proto: https\r\n\r\n'], 'alice.localhost', { ...proxied, forwardedTrusted: undefined });
      expect(headerValues(out, 'x-forwarded-for')).toEqual(['10.9.0.2']);
      expect(headerValues(out, 'x-forwarded-proto')).toEqual(['http']);
    });
  });

  test('finds every head on a keep-alive connection: Content-Length bodies, chunked bodies, trailers', async () => {
    const requests = [
      'POST /one HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 11\r\n\r\nhello world',
      'POST /two HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nGET /\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n',
      'GET /three HTTP/1.1\r\nHost: alice.localhost\r\n\r\n',
    ];
    const { out, rejected } = await rewrite([requests.join('')]);
    expect(rejected).toBeNull();
    // Three heads rewritten; body bytes that look like a request line ("GET /") were not.
    expect(out.match(/X-Forwarded-For/g)).toHaveLength(3);
    expect(out).toContain('hello world');
    expect(out).toContain('5;ext=1\r\nGET /\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n');
  });

  test('the same stream split into 1-byte chunks gives the same output', async () => {
    const text = 'POST /x HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\nGET /y HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 2\r\n\r\nok';
    const whole = await rewrite([text]);
    const bytes = await rewrite(text.split(''));
    expect(bytes).toEqual(whole);
    expect(whole.out.match(/X-Forwarded-For/g)).toHaveLength(2);
  });

  describe('the 100th request of one kept-alive connection, split at every byte', () => {
    /**
     * 99 requests of every shape a head can take (kept as sent, with dropped or rewritten lines,
     * with bodies, another spelling of the same Host), then the 100th, which spoofs the
     * forwarding headers. The rewriter keeps the forwarding lines and the Host check from one
     * request to the next: they must still be right on the 100th.
     */
    const REQUESTS = Array.from({ length: 99 }, (_, i) => [
      `GET /plain/${i} HTTP/1.1\r\nHost: alice.localhost:8080\r\nUser-Agent: t\r\n\r\n`,
      `GET /spoof/${i} HTTP/1.1\r\nHost: alice.localhost:8080\r\nX-Forwarded-For: 10.0.0.${i}\r\nConnection: keep-alive, X-Real-IP\r\n\r\n`,
      `POST /length/${i} HTTP/1.1\r\nHost: ALICE.localhost:8080\r\nContent-Length: 5\r\n\r\nGET /`,
      `POST /chunked/${i} HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Real-IP: 10.1.1.1\r\n\r\n`,
    ][i % 4]!);
    const LAST = 'GET /hundredth HTTP/1.1\r\nhost:   alice.localhost:8080 \r\nX-Forwarded-For: 10.6.6.6\r\nx_forwarded_proto: https\r\nForwarded: for=10.6.6.6\r\nAccept: */*\r\n\r\n';
    const stream = REQUESTS.join('') + LAST;
    const lastStart = stream.length - LAST.length;
    /** Exactly what the origin must get for the 100th request. */
    const LAST_OUT = `GET /hundredth HTTP/1.1\r\nhost:   alice.localhost:8080 \r\nAccept: */*\r\n${FWD}\r\n`;

    test('whole, it reaches the origin with exactly our forwarding headers', async () => {
      const { out, rejected } = await rewrite([stream]);
      expect(rejected).toBeNull();
      expect(out.endsWith(LAST_OUT)).toBe(true);
      expect(out.match(/X-Forwarded-For: /g)).toHaveLength(100);
      // Each request's X-Forwarded-Host is its own Host, however the one before was spelt.
      const hosts = [...stream.matchAll(/\r\nhost:[ \t]*(.*?)[ \t]*\r\n/gi)].map((match) => match[1]);
      expect([...out.matchAll(/\r\nX-Forwarded-Host: (.*?)\r\n/g)].map((match) => match[1])).toEqual(hosts);
      expect(new Set(hosts).size).toBe(3);
      expect(out).not.toContain('10.0.0.');
      expect(out).not.toContain('10.6.6.6');
      expect(out).not.toContain('10.1.1.1');
      // Bodies are untouched: the `GET /` inside one was not read as a head.
      expect(out).toContain('\r\n\r\nGET /POST /chunked/3 HTTP/1.1\r\n');
    });

    test('split in two at every byte boundary from the 99th request on, and in 1-byte chunks, the output is the same', async () => {
      const whole = await rewrite([stream]);
      const from = stream.lastIndexOf('\r\n\r\n', lastStart - 5) - 40;
      for (let at = from; at <= stream.length; at++) {
        expect(await rewrite([stream.slice(0, at), stream.slice(at)])).toEqual(whole);
      }
      const last = await rewrite([stream.slice(0, lastStart), ...LAST.split('')]);
      expect(last).toEqual(whole);
    });

    test('a later request for another name is refused 421 even after 99 accepted ones', async () => {
      const { out, rejected } = await rewrite([stream.slice(0, lastStart), LAST.replace('alice.localhost:8080', 'bob.localhost:8080')]);
      expect(rejected).toEqual({ status: 421, reason: 'this connection serves another name', firstRequest: false });
      expect(out).not.toContain('/hundredth');
    });

    test('behind a trusted proxy, each request gets its own client, not the previous one\'s', async () => {
      const proxied: VisitorInfo = { ...visitor, remoteAddress: '10.9.0.2', forwardedTrusted: true };
      const heads = Array.from({ length: 100 }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 203.0.113.${i}\r\n\r\n`);
      const { out } = await rewrite([heads.join('')], 'alice.localhost', proxied);
      expect(headerValues(out.slice(out.indexOf('GET /99 ')), 'x-forwarded-for')).toEqual(['203.0.113.99']);
      expect(headerValues(out.slice(out.indexOf('GET /98 ')), 'x-forwarded-for')[0]).toBe('203.0.113.98');
    });
  });

  /** Runs a rewriter where the origin answers the first request with `originStatusLine`. */
  async function withOrigin(chunks: string[], originStatusLine: string): Promise<{ out: string; rejected: RequestRejection | null }> {
    const rewriter = new RequestHeadRewriter(visitor, 'alice.localhost');
    let rejected: RequestRejection | null = null;
    rewriter.on('rejected', (r: RequestRejection) => { rejected = r; });
    const out: Buffer[] = [];
    rewriter.on('data', (chunk: Buffer) => {
      // The origin answers as soon as it has the first head.
      if (out.length === 0) setImmediate(() => rewriter.originResponded(Buffer.from(originStatusLine, 'latin1')));
      out.push(chunk);
    });
    const ended = new Promise((resolve) => rewriter.on('end', resolve));
    for (const chunk of chunks) rewriter.write(Buffer.from(chunk, 'latin1'));
    rewriter.end();
    await ended;
    return { out: Buffer.concat(out).toString('latin1'), rejected };
  }

  const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: alice.localhost\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n';

  test('after an upgrade the origin accepted (101) the bytes pass raw (no head parsing of frames)', async () => {
    const { out, rejected } = await withOrigin([UPGRADE, '\x81\x85GET / HTTP/1.1\r\n\r\n'], 'HTTP/1.1 101 Switching Protocols\r\n');
    expect(rejected).toBeNull();
    expect(out.endsWith('\x81\x85GET / HTTP/1.1\r\n\r\n')).toBe(true);
    expect(out.match(/X-Forwarded-For/g)).toHaveLength(1);
  });

  test('regression (fuzz): Proxy-Connection: upgrade is an upgrade to llhttp, so the rewriter waits for the origin too', async () => {
    const upgrade = 'GET /ws HTTP/1.1\r\nHost: alice.localhost\r\nProxy-Connection: upgrade\r\nUpgrade: x\r\n\r\n';
    const { out, rejected } = await withOrigin([upgrade, 'GET / HTTP/1.1\r\n\r\nraw'], 'HTTP/1.1 101 Switching Protocols\r\n');
    expect(rejected).toBeNull();
    expect(out.endsWith('GET / HTTP/1.1\r\n\r\nraw')).toBe(true);
  });

  test('regression: an upgrade the origin declined does not let later requests skip the rewriter', async () => {
    const later = 'GET /second HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nGET /third HTTP/1.1\r\nHost: bob.localhost\r\n\r\n';
    const { out, rejected } = await withOrigin([UPGRADE.replace('websocket', 'foo'), later], 'HTTP/1.1 200 OK\r\n');
    expect(out).toContain('/second');
    expect(out).not.toContain('6.6.6.6');
    expect(out).not.toContain('/third');
    expect(rejected).toMatchObject({ status: 421, firstRequest: false });
  });

  test('an Upgrade on a later request is stripped: the connection stays HTTP', async () => {
    const { out, rejected } = await rewrite(['GET /a HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', UPGRADE, 'GET /b HTTP/1.1\r\nHost: alice.localhost\r\n\r\n']);
    expect(rejected).toBeNull();
    expect(out).not.toMatch(/upgrade/i);
    expect(out).toContain('Connection: keep-alive\r\n');
    expect(out.match(/X-Forwarded-For/g)).toHaveLength(3);
  });

  test('CONNECT after another request is refused', async () => {
    const { rejected } = await rewrite(['GET /a HTTP/1.1\r\nHost: alice.localhost\r\n\r\nCONNECT alice.localhost:22 HTTP/1.1\r\nHost: alice.localhost\r\n\r\n']);
    expect(rejected).toMatchObject({ status: 400, firstRequest: false });
  });

  test('only SP and HTAB are trimmed from values: a Content-Length with a vertical tab is refused', async () => {
    const { rejected } = await rewrite(['POST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 4\v\r\n\r\nabcd']);
    expect(rejected).toMatchObject({ status: 400 });
  });

  test('HTTP/1.0 without Host is accepted; the visitor host fills X-Forwarded-Host', async () => {
    const { out, rejected } = await rewrite(['GET / HTTP/1.0\r\n\r\n']);
    expect(rejected).toBeNull();
    expect(out).toContain('X-Forwarded-Host: alice.localhost:8080');
  });

  // Each of these could be framed differently by another parser (request smuggling), or is
  // simply not HTTP/1.1: refused, never forwarded.
  test.each([
    ['CL and TE together', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['Content-Length with a sign', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: +4\r\n\r\nabcd'],
    ['Content-Length list', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 4, 4\r\n\r\nabcd'],
    ['TE other than chunked', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['TE obfuscated', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
    ['two TE headers', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n'],
    ['TE on HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['space before the colon', 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length : 4\r\n\r\nabcd'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-A: 1\r\n  folded\r\n\r\n'],
    ['bare LF in a header', 'GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-A: 1\nContent-Length: 5\r\n\r\n'],
    ['NUL in a header', 'GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-A: a\0b\r\n\r\n'],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: alice.localhost\r\nHost: bob.localhost\r\n\r\n'],
    ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n'],
    ['not HTTP at all', 'HELLO\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ])('refuses %s with 400', async (_label, text) => {
    const { out, rejected } = await rewrite([text]);
    expect(rejected).toMatchObject({ status: 400, firstRequest: true });
    expect(out).toBe('');
  });

  test.each([
    ['a bad chunk size', 'zz\r\n'],
    ['chunk data not followed by CRLF', '3\r\nabcX\r\n0\r\n\r\n'],
    ['a negative chunk size', '-1\r\n'],
  ])('a chunked body with %s is cut off after its head: nothing past the error reaches the origin', async (_label, body) => {
    const head = 'POST / HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { out, rejected } = await rewrite([head + body + 'GET /smuggled HTTP/1.1\r\nHost: alice.localhost\r\n\r\n']);
    expect(rejected).toMatchObject({ status: 400, firstRequest: false });
    expect(out).not.toContain('smuggled');
    expect(out.match(/X-Forwarded-For/g)).toHaveLength(1);
  });

  // Found by request-head-rewriter.fuzz.test.ts: llhttp (Node's parser) refuses each of these
  // (or frames it differently), the rewriter used to forward it.
  const H = 'Host: alice.localhost\r\n';
  test.each([
    ['fuzz: two equal Content-Lengths (llhttp: Duplicate Content-Length)', `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`],
    ['fuzz: a tab after a Content-Length (llhttp: Invalid character in Content-Length)', `POST / HTTP/1.1\r\n${H}Content-Length: 4\t\r\n\r\nabcd`],
    ['fuzz: a tab after chunked (llhttp: Request has invalid Transfer-Encoding)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n`],
    ['fuzz: a control byte in a header value (llhttp: Invalid header value char)', `GET / HTTP/1.1\r\n${H}User-Agent: a\x01b\r\n\r\n`],
    ['fuzz: a form feed in a header value', `GET / HTTP/1.1\r\n${H}Accept: a\fb\r\n\r\n`],
    ['fuzz: DEL in a header value', `GET / HTTP/1.1\r\n${H}Via: a\x7fb\r\n\r\n`],
    ['fuzz: DEL in a forwarding header we drop anyway', `GET / HTTP/1.1\r\n${H}X-Forwarded-Host: evil\x7f.example\r\n\r\n`],
    ['fuzz: a high byte in the target (llhttp: Invalid char in url path)', `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`],
    ['fuzz: a target that is no URL form (llhttp: Unexpected start char in url)', `GET a;p=1 HTTP/1.1\r\n${H}\r\n`],
    ['fuzz: a digit in an absolute-form scheme (llhttp: Unexpected char in url schema)', `GET htt0p://alice.localhost/ HTTP/1.1\r\n${H}\r\n`],
    ['fuzz: a quote in an absolute-form host (llhttp: Unexpected char in url server)', `GET http://al"ice.localhost/ HTTP/1.1\r\n${H}\r\n`],
    ['fuzz: CONNECT with a body (llhttp switches right after its head)', `CONNECT alice.localhost:443 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`],
    ['a lower-case connect (some servers read methods case-insensitively)', `connect alice.localhost:443 HTTP/1.1\r\n${H}\r\n`],
  ])('regression: refuses %s', async (_label, text) => {
    const { out, rejected } = await rewrite([text]);
    expect(rejected).toMatchObject({ status: 400, firstRequest: true });
    expect(out).toBe('');
  });

  const CHUNKED = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
  test.each([
    ['fuzz: a space before a chunk extension (llhttp: Invalid character in chunk size)', '3 ;a\r\nabc\r\n0\r\n\r\n'],
    ['fuzz: a space after the semicolon (llhttp: Invalid character in chunk extensions name)', '3; a\r\nabc\r\n0\r\n\r\n'],
    ['fuzz: an empty chunk extension', '3;\r\nabc\r\n0\r\n\r\n'],
    ['fuzz: a space around = in a chunk extension', '3;a = b\r\nabc\r\n0\r\n\r\n'],
    ['fuzz: a control byte in a trailer (llhttp: Invalid header value char)', '0\r\nX-T: a\x01\r\n\r\n'],
    ['fuzz: Content-Length as a trailer (llhttp: Content-Length can\'t be present with Transfer-Encoding)', '0\r\nContent-Length: 12\r\n\r\n'],
    ['fuzz: Transfer-Encoding as a trailer', '0\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['fuzz: Connection: close as a trailer (llhttp then closes)', '0\r\nConnection: close\r\n\r\n'],
    ['fuzz: Proxy-Connection as a trailer', '0\r\nProxy-Connection: close\r\n\r\n'],
    ['Host as a trailer', '0\r\nHost: bob.localhost\r\n\r\n'],
  ])('regression: a chunked body with %s is refused, and nothing after it is forwarded', async (_label, body) => {
    const { out, rejected } = await rewrite([`${CHUNKED}${body}GET /next HTTP/1.1\r\n${H}\r\n`]);
    expect(rejected).toMatchObject({ status: 400, firstRequest: false });
    expect(out).not.toContain('/next');
  });

  test('chunk extensions llhttp accepts go through untouched', async () => {
    const body = '3;a=b;c="q \\" s"\r\nabc\r\n0;last\r\n\r\n';
    const { out, rejected } = await rewrite([CHUNKED + body]);
    expect(rejected).toBeNull();
    expect(out.endsWith(body)).toBe(true);
  });

  test.each([
    ['Connection: close', `GET /a HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
    ['fuzz: Proxy-Connection: close (llhttp reads it as Connection)', `GET /a HTTP/1.1\r\n${H}Proxy-Connection: close\r\n\r\n`],
    ['fuzz: a close token among others', `GET /a HTTP/1.1\r\n${H}Connection: TE, close\r\n\r\n`],
    ['fuzz: HTTP/1.0 without keep-alive', 'GET /a HTTP/1.0\r\n\r\n'],
    ['fuzz: HTTP/1.0 with "keep-alive<TAB>" (llhttp takes the tab as part of the token)', 'GET /a HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\n'],
  ])('regression: after a request with %s, a further request is refused (llhttp: Data after Connection: close)', async (_label, first) => {
    const { out, rejected } = await rewrite([`${first}\r\nGET /b HTTP/1.1\r\n${H}\r\n`]);
    expect(out).toContain('GET /a');
    expect(out).not.toContain('/b');
    expect(rejected).toMatchObject({ status: 400, firstRequest: false });
  });

  test('HTTP/1.0 with keep-alive goes on; line breaks after a closing request are no refusal', async () => {
    const { out, rejected } = await rewrite([`GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\n${H}Connection: close\r\n\r\n\r\n`]);
    expect(rejected).toBeNull();
    expect(out.match(/X-Forwarded-For/g)).toHaveLength(2);
  });

  test('a later smuggling attempt is refused after the good requests before it went through', async () => {
    const { out, rejected } = await rewrite(['GET /ok HTTP/1.1\r\nHost: alice.localhost\r\n\r\nPOST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n']);
    expect(rejected).toMatchObject({ status: 400, firstRequest: false });
    expect(out).toBe(`GET /ok HTTP/1.1\r\nHost: alice.localhost\r\n${fwd('alice.localhost', 80)}\r\n`);
  });

  test('another name on the same connection is 421', async () => {
    const { rejected } = await rewrite(['GET / HTTP/1.1\r\nHost: bob.localhost\r\n\r\n']);
    expect(rejected).toMatchObject({ status: 421 });
  });

  test('an endless head is cut at the limit with 431, without buffering more', async () => {
    const { rejected } = await rewrite(['GET / HTTP/1.1\r\nHost: alice.localhost\r\n', `X-Big: ${'a'.repeat(MAX_REQUEST_HEAD_BYTES)}`]);
    expect(rejected).toMatchObject({ status: 431 });
  });
});

describe('request head deadline', () => {
  afterEach(() => { vi.useRealTimers(); });

  /** A rewriter fed `chunks` (not ended), with what it refused and whether its output ended. */
  function feed(chunks: string[]) {
    const rewriter = new RequestHeadRewriter(visitor, 'alice.localhost');
    const seen: { rejected: RequestRejection | null; ended: boolean } = { rejected: null, ended: false };
    rewriter.on('rejected', (r: RequestRejection) => { seen.rejected = r; });
    rewriter.on('data', () => {});
    rewriter.on('end', () => { seen.ended = true; });
    for (const chunk of chunks) rewriter.write(Buffer.from(chunk, 'latin1'));
    return { rewriter, seen };
  }

  test('regression: a later request head dribbled in after a first request is cut with 408 after 15 s', () => {
    vi.useFakeTimers();
    const { seen } = feed(['GET /1 HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', 'GET /2 HTTP/1.1\r\nHo']);
    vi.advanceTimersByTime(REQUEST_HEAD_TIMEOUT_MS - 1);
    expect(seen.rejected).toBeNull();
    vi.advanceTimersByTime(1);
    expect(seen.rejected).toEqual({ status: 408, reason: 'request head not complete within 15 s', firstRequest: false });
  });

  test('the deadline counts from the head\'s first byte: more bytes do not extend it', () => {
    vi.useFakeTimers();
    const { rewriter, seen } = feed(['GET /1 HTTP/1.1\r\nHost: alice.localhost\r\n\r\nG']);
    for (let i = 0; i < 14; i++) {
      vi.advanceTimersByTime(1000);
      rewriter.write(Buffer.from('E', 'latin1'));
    }
    expect(seen.rejected).toBeNull();
    vi.advanceTimersByTime(1000);
    expect(seen.rejected?.status).toBe(408);
  });

  test('a head completed in time, or no bytes at all between requests, is never cut by it', () => {
    vi.useFakeTimers();
    const { rewriter, seen } = feed(['GET /1 HTTP/1.1\r\nHost: alice.localhost\r\n\r\nGET /2 HTTP/1.1\r\n']);
    vi.advanceTimersByTime(REQUEST_HEAD_TIMEOUT_MS - 1000);
    rewriter.write(Buffer.from('Host: alice.localhost\r\n\r\n', 'latin1'));
    vi.advanceTimersByTime(10 * REQUEST_HEAD_TIMEOUT_MS);
    expect(seen.rejected).toBeNull();
    expect(seen.ended).toBe(false);
  });
});
