import { describe, expect, test } from 'vitest';
import type { VisitorInfo } from '../../protocol/index.js';
import { RequestHeadRewriter } from '../routes/request-head-rewriter.js';
import { bodyBytes, headerValue, type CapturedExchange } from './captured-exchange.js';
import { ExchangeRing } from './exchange-ring.js';
import { HttpTap } from './http-tap.js';

const visitor: VisitorInfo = { routeId: 'r', remoteAddress: '198.51.100.7', remotePort: 4000, scheme: 'http', host: 'alice.localhost:8080' };

/** What a test compares: the exchange without clocks and ids. */
function shape(exchange: CapturedExchange): object {
  return {
    state: exchange.state, method: exchange.method, target: exchange.target, status: exchange.status, upgraded: exchange.upgraded,
    requestBody: bodyBytes(exchange.requestBody).toString('latin1'), requestTotal: exchange.requestBody.total,
    responseBody: bodyBytes(exchange.responseBody).toString('latin1'), responseTotal: exchange.responseBody.total,
    responseType: headerValue(exchange.responseHeaders, 'content-type') ?? null, error: exchange.error,
  };
}

/**
 * Sends `requests` (in these pieces) through a real rewriter with a tap as its observer, then
 * `responses` (in these pieces) to the tap; returns the recorded exchanges and what the
 * rewriter let through.
 */
function run(requests: Buffer[], responses: Buffer[], options: { close?: boolean; upgradeAnswer?: Buffer; bodyCap?: number } = {}): { exchanges: object[]; forwarded: string } {
  const ring = new ExchangeRing({ bodyCapBytes: options.bodyCap ?? 64 * 1024 });
  const tap = new HttpTap(ring, { route: 'alice.localhost', origin: { host: '127.0.0.1', port: 1 }, remoteAddress: visitor.remoteAddress });
  const rewriter = new RequestHeadRewriter(visitor, 'alice.localhost');
  rewriter.observer = tap;
  const out: Buffer[] = [];
  rewriter.on('data', (chunk: Buffer) => out.push(chunk));
  if (options.upgradeAnswer) rewriter.originResponded(options.upgradeAnswer);
  for (const chunk of requests) rewriter.write(chunk);
  for (const chunk of responses) tap.responseBytes(chunk);
  if (options.close) tap.closed();
  return { exchanges: ring.list().map(shape), forwarded: Buffer.concat(out).toString('latin1') };
}

/** What the rewriter forwards without any observer: the tap must not change it. */
function forwardedWithoutTap(requests: Buffer[]): string {
  const rewriter = new RequestHeadRewriter(visitor, 'alice.localhost');
  const out: Buffer[] = [];
  rewriter.on('data', (chunk: Buffer) => out.push(chunk));
  for (const chunk of requests) rewriter.write(chunk);
  return Buffer.concat(out).toString('latin1');
}

const splits = (data: Buffer): Buffer[][] => Array.from({ length: data.length - 1 }, (_, i) => [data.subarray(0, i + 1), data.subarray(i + 1)]);
const bytewise = (data: Buffer): Buffer[] => Array.from(data, (byte) => Buffer.from([byte]));

const KEEP_ALIVE_REQUESTS = Buffer.from([
  'GET /one?x=1 HTTP/1.1\r\nHost: alice.localhost\r\n\r\n',
  'POST /two HTTP/1.1\r\nHost: alice.localhost\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"hello":"w"}',
  'PUT /three HTTP/1.1\r\nHost: alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
  'HEAD /four HTTP/1.1\r\nHost: alice.localhost\r\n\r\n',
].join(''), 'latin1');
const KEEP_ALIVE_RESPONSES = Buffer.from([
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfirst',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n',
  'HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n',
].join(''), 'latin1');
const EXPECTED = [
  { state: 'complete', method: 'GET', target: '/one?x=1', status: 200, upgraded: false, requestBody: '', requestTotal: 0, responseBody: 'first', responseTotal: 5, responseType: 'text/plain', error: null },
  { state: 'complete', method: 'POST', target: '/two', status: 201, upgraded: false, requestBody: '{"hello":"w"}', requestTotal: 13, responseBody: '{"a":1}', responseTotal: 7, responseType: 'application/json', error: null },
  { state: 'complete', method: 'PUT', target: '/three', status: 204, upgraded: false, requestBody: 'hello world', requestTotal: 11, responseBody: '', responseTotal: 0, responseType: null, error: null },
  // A HEAD response announces a length but has no body: the next response would start here.
  { state: 'complete', method: 'HEAD', target: '/four', status: 200, upgraded: false, requestBody: '', requestTotal: 0, responseBody: '', responseTotal: 0, responseType: 'text/html', error: null },
];

describe('the inspector\'s tap on a connection', () => {
  test('keep-alive and pipelined: four requests (length, chunked, HEAD) matched to their responses (100 Continue skipped, chunked, 204)', () => {
    const { exchanges, forwarded } = run([KEEP_ALIVE_REQUESTS], [KEEP_ALIVE_RESPONSES]);
    expect(exchanges).toEqual(EXPECTED);
    expect(forwarded).toBe(forwardedWithoutTap([KEEP_ALIVE_REQUESTS]));
  });

  test('the same, split at every byte boundary of the requests and of the responses, and byte by byte', () => {
    for (const pieces of splits(KEEP_ALIVE_REQUESTS)) expect(run(pieces, [KEEP_ALIVE_RESPONSES]).exchanges).toEqual(EXPECTED);
    for (const pieces of splits(KEEP_ALIVE_RESPONSES)) expect(run([KEEP_ALIVE_REQUESTS], pieces).exchanges).toEqual(EXPECTED);
    const { exchanges, forwarded } = run(bytewise(KEEP_ALIVE_REQUESTS), bytewise(KEEP_ALIVE_RESPONSES));
    expect(exchanges).toEqual(EXPECTED);
    expect(forwarded).toBe(forwardedWithoutTap([KEEP_ALIVE_REQUESTS]));
  });

  test('the request head recorded is the one the origin got: our X-Forwarded-For, not the visitor\'s', () => {
    const ring = new ExchangeRing();
    const tap = new HttpTap(ring, { route: 'r', origin: { host: '127.0.0.1', port: 1 }, remoteAddress: visitor.remoteAddress });
    const rewriter = new RequestHeadRewriter(visitor, 'alice.localhost');
    rewriter.observer = tap;
    rewriter.resume();
    rewriter.write(Buffer.from('GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n'));
    const headers = ring.list()[0]!.requestHeaders;
    expect(headerValue(headers, 'x-forwarded-for')).toBe('198.51.100.7');
    expect(headers.map(([name]) => name.toLowerCase()).filter((name) => name === 'x-forwarded-for')).toHaveLength(1);
  });

  test('a close-delimited response ends when the connection closes; a request left unanswered is aborted', () => {
    const requests = Buffer.from('GET /a HTTP/1.1\r\nHost: alice.localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: alice.localhost\r\n\r\n');
    const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
    for (const pieces of splits(response)) {
      const { exchanges } = run([requests], pieces, { close: true });
      expect(exchanges).toMatchObject([
        { state: 'complete', target: '/a', status: 200, responseBody: 'until the end' },
        { state: 'aborted', target: '/b', status: null, error: 'the connection closed before the response ended' },
      ]);
    }
  });

  test('a body past the cap is counted, kept up to the cap and marked truncated', () => {
    const body = 'x'.repeat(100);
    const request = Buffer.from(`POST /big HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 100\r\n\r\n${body}`);
    const response = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${body}`);
    expect(run([request], [response], { bodyCap: 10 }).exchanges).toMatchObject([
      { state: 'complete', requestBody: 'x'.repeat(10), requestTotal: 100, responseBody: 'x'.repeat(10), responseTotal: 100 },
    ]);
  });

  test('a WebSocket upgrade is recorded as 101 and its frames are not read as HTTP', () => {
    const request = Buffer.from('GET /ws HTTP/1.1\r\nHost: alice.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x05hello');
    const response = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05HTTP/');
    for (const pieces of splits(response)) {
      const { exchanges, forwarded } = run([request], pieces, { upgradeAnswer: response, close: true });
      expect(exchanges).toEqual([expect.objectContaining({ state: 'complete', target: '/ws', status: 101, upgraded: true, responseBody: '' })]);
      expect(forwarded.endsWith('\x81\x05hello')).toBe(true);
    }
  });

  test('an unreadable response stops the recording (the visitor still gets the bytes): the request is marked, not dropped', () => {
    const { exchanges } = run([Buffer.from('GET / HTTP/1.1\r\nHost: alice.localhost\r\n\r\n')], [Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')]);
    expect(exchanges).toMatchObject([{ state: 'aborted', error: expect.stringContaining('malformed status line') }]);
  });

  test('the agent\'s own answer (the local service refused) is recorded with its status', () => {
    const ring = new ExchangeRing();
    const tap = new HttpTap(ring, { route: 'r', origin: { host: '127.0.0.1', port: 1 }, remoteAddress: visitor.remoteAddress });
    tap.requestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 'GET', '/');
    tap.requestEnd();
    tap.agentAnswered(502, 'Local port refused');
    tap.closed();
    expect(ring.list().map(shape)).toMatchObject([{ state: 'complete', status: 502, error: 'answered by the agent: Local port refused' }]);
  });

  test('requests over the recording rate are skipped, and one recorded after them still gets its own response', async () => {
    const ring = new ExchangeRing({ recordPerSecond: 10 });
    const tap = new HttpTap(ring, { route: 'r', origin: { host: '127.0.0.1', port: 1 }, remoteAddress: visitor.remoteAddress });
    const request = (n: number): void => {
      tap.requestHead(Buffer.from(`POST /${n} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n`), 'POST', `/${n}`);
      tap.requestBody(Buffer.from('rq'));
      tap.requestEnd();
    };
    const response = (n: number): Buffer => Buffer.from(`HTTP/1.1 ${n === 30 ? 202 : 200} X\r\nContent-Length: ${String(n).length}\r\n\r\n${n}`);
    // 30 requests pipelined: 10 recorded, 20 only counted; then, the allowance back, one more,
    // before any response: the skipped ones must still take their turn in the queue.
    for (let n = 0; n < 30; n++) request(n);
    await new Promise((resolve) => setTimeout(resolve, 250));
    request(30);
    for (let n = 0; n <= 30; n++) tap.responseBytes(response(n));
    expect(ring.notRecorded).toBe(20);
    const recorded = ring.list().map((e) => [e.target, e.status, e.state, bodyBytes(e.responseBody).toString()]);
    expect(recorded).toEqual([...Array.from({ length: 10 }, (_, n) => [`/${n}`, 200, 'complete', String(n)]), ['/30', 202, 'complete', '30']]);
  });
});
