import { describe, expect, test } from 'vitest';
import type { VisitorInfo } from '../../protocol/index.js';
import { RequestHeadRewriter, type RequestRejection } from '../routes/request-head-rewriter.js';
import { RouteGuard } from './route-guard.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const visitor: VisitorInfo = { routeId: 'r', remoteAddress: '192.0.2.1', remotePort: 1, scheme: 'http', host: 'demo.example:80' };

/** Runs `input` through a rewriter guarded by `guard`; what the origin would get, and the refusal. */
function rewrite(guard: RouteGuard, input: string, who: VisitorInfo = visitor): Promise<{ origin: string; rejected: RequestRejection | null }> {
  return new Promise((resolve) => {
    const rewriter = new RequestHeadRewriter(who, null);
    rewriter.authorize = (head) => guard.check(who, head);
    let origin = '';
    let rejected: RequestRejection | null = null;
    rewriter.on('data', (chunk: Buffer) => { origin += chunk.toString('latin1'); });
    rewriter.on('rejected', (refusal: RequestRejection) => { rejected = refusal; });
    rewriter.on('end', () => resolve({ origin, rejected }));
    rewriter.end(Buffer.from(input, 'latin1'));
  });
}

describe('RouteGuard in the request head rewriter', () => {
  const guard = new RouteGuard({ basicAuth: [{ user: 'alice', password: 'pw' }] }, 'http');
  guard.realm = 'demo';

  test('every request of a connection is checked; the first refused one ends it and reaches nobody', async () => {
    const { origin, rejected } = await rewrite(guard,
      `GET /1 HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic('alice', 'pw')}\r\n\r\n`
      + 'GET /2 HTTP/1.1\r\nHost: a\r\n\r\n'
      + `GET /3 HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic('alice', 'pw')}\r\n\r\n`);
    expect(origin).toContain('GET /1 ');
    expect(origin).not.toContain('GET /2 ');
    expect(origin).not.toContain('GET /3 ');
    expect(rejected).toMatchObject({ status: 401, firstRequest: false, headers: { 'WWW-Authenticate': 'Basic realm="demo", charset="UTF-8"' } });
  });

  test('the origin never gets the Authorization header (nor as a trailer)', async () => {
    const { origin, rejected } = await rewrite(guard,
      `POST /1 HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic('alice', 'pw')}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: x\r\n\r\n`);
    expect(rejected).toBeNull();
    expect(origin).not.toMatch(/authorization/i);
  });

  test('a wrong password is refused, and a network past 5 wrong ones gets 429', async () => {
    const wrong = await rewrite(guard, `GET / HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic('alice', 'no')}\r\n\r\n`, { ...visitor, remoteAddress: '198.51.100.7' });
    expect(wrong.rejected).toMatchObject({ status: 401, firstRequest: true, reason: 'wrong user name or password' });
    for (let i = 0; i < 5; i++) await rewrite(guard, `GET / HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic('alice', `no${i}`)}\r\n\r\n`, { ...visitor, remoteAddress: '198.51.100.7' });
    const throttled = await rewrite(guard, `GET / HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic('alice', 'other')}\r\n\r\n`, { ...visitor, remoteAddress: '198.51.100.7' });
    expect(throttled.rejected).toMatchObject({ status: 429 });
    expect(throttled.rejected!.headers!['Retry-After']).toBeGreaterThan(0);
  });

  test('without a guard the Authorization header goes to the origin as before', async () => {
    const rewriter = new RequestHeadRewriter(visitor, null);
    const out = await new Promise<string>((resolve) => {
      let text = '';
      rewriter.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
      rewriter.on('end', () => resolve(text));
      rewriter.end('GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer app-token\r\n\r\n');
    });
    expect(out).toContain('Authorization: Bearer app-token');
  });

  test('IP rules: behind a trusted proxy, each request is judged by its own client', async () => {
    const ipGuard = new RouteGuard({ allowIp: ['203.0.113.0/24'] }, 'http');
    const proxied: VisitorInfo = { ...visitor, remoteAddress: '10.0.0.1', forwardedTrusted: true };
    const { origin, rejected } = await rewrite(ipGuard,
      'GET /in HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n'
      + 'GET /out HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.5, 198.51.100.1\r\n\r\n', proxied);
    expect(origin).toContain('GET /in ');
    expect(origin).not.toContain('GET /out ');
    expect(rejected).toMatchObject({ status: 403 });
    // Without a trusted proxy, X-Forwarded-For is the visitor's own claim: ignored.
    const direct = await rewrite(ipGuard, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n');
    expect(direct.rejected).toMatchObject({ status: 403 });
  });

  test('no rules: no guard at all', () => {
    expect(RouteGuard.of(undefined, 'http')).toBeNull();
    expect(RouteGuard.of({ allowIp: [] }, 'http')).toBeNull();
    expect(() => RouteGuard.of({ denyIp: ['300.0.0.0/8'] }, 'tcp')).toThrow(/--deny-ip "300\.0\.0\.0\/8" is not an IP network/);
  });
});
