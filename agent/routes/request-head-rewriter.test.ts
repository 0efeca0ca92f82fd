import { describe, expect, test } from 'vitest';
import { MAX_REQUEST_HEAD_BYTES, RequestHeadRewriter, type RequestRejection } from './request-head-rewriter.js';

const visitor = { routeId: 'r', remoteAddress: '198.51.100.7', remotePort: 4000, scheme: 'http' as const, host: 'alice.localhost:8080' };

/** Feeds `chunks` through a rewriter; returns what the origin would receive and any refusal. */
async function rewrite(chunks: Array<string | Buffer>, publicHost: string | null = 'alice.localhost'): Promise<{ out: string; rejected: RequestRejection | null }> {
  const rewriter = new RequestHeadRewriter(visitor, publicHost);
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

const FWD = 'X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: alice.localhost:8080\r\n';

describe('RequestHeadRewriter', () => {
  test('adds X-Forwarded-* to a simple request and keeps everything else byte for byte', async () => {
    const { out, rejected } = await rewrite(['GET /a?b=c HTTP/1.1\r\nHost: alice.localhost:8080\r\nUser-Agent: t\r\n\r\n']);
    expect(rejected).toBeNull();
    expect(out).toBe(`GET /a?b=c HTTP/1.1\r\nHost: alice.localhost:8080\r\nUser-Agent: t\r\n${FWD}\r\n`);
  });

  test('appends to a visitor X-Forwarded-For and replaces spoofed -Proto/-Host', async () => {
    const { out } = await rewrite(['GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-proto: https\r\nX-Forwarded-Host: evil.example\r\n\r\n']);
    expect(out).toContain('X-Forwarded-For: 10.0.0.1, 198.51.100.7\r\n');
    expect(out).toContain('X-Forwarded-Proto: http\r\n');
    expect(out).not.toContain('https');
    expect(out).not.toContain('evil.example');
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

  test('regression: an upgrade the origin declined does not let later requests skip the rewriter', async () => {
    const later = 'GET /second HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nGET /third HTTP/1.1\r\nHost: bob.localhost\r\n\r\n';
    const { out, rejected } = await withOrigin([UPGRADE.replace('websocket', 'foo'), later], 'HTTP/1.1 200 OK\r\n');
    expect(out).toContain('X-Forwarded-For: 6.6.6.6, 198.51.100.7');
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

  test('a later smuggling attempt is refused after the good requests before it went through', async () => {
    const { out, rejected } = await rewrite(['GET /ok HTTP/1.1\r\nHost: alice.localhost\r\n\r\nPOST / HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n']);
    expect(rejected).toMatchObject({ status: 400, firstRequest: false });
    expect(out).toBe(`GET /ok HTTP/1.1\r\nHost: alice.localhost\r\n${FWD.replace('alice.localhost:8080', 'alice.localhost')}\r\n`);
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
