import { describe, expect, it } from 'vitest';
import { ExchangeWatch, type ObservedExchange } from './exchange-watch.js';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

function watch(): { watch: ExchangeWatch; seen: ObservedExchange[] } {
  const seen: ObservedExchange[] = [];
  return { watch: new ExchangeWatch((exchange) => seen.push(exchange)), seen };
}

const summary = (seen: ObservedExchange[]) => seen.map(({ method, target, status, bytesIn, bytesOut }) => ({ method, target, status, bytesIn, bytesOut }));

/** Feeds every chunk split at `cut` (all cuts: every byte boundary gives the same exchanges). */
function feedSplit(w: ExchangeWatch, side: 'in' | 'out', bytes: Buffer, cut: number): void {
  const parts = cut <= 0 || cut >= bytes.length ? [bytes] : [bytes.subarray(0, cut), bytes.subarray(cut)];
  for (const part of parts) (side === 'in' ? w.fromVisitor(part) : w.toVisitor(part));
}

describe('ExchangeWatch', () => {
  it('pairs keep-alive requests with their responses, bytes each way exact', () => {
    const { watch: w, seen } = watch();
    const req1 = b('GET /a?x=1 HTTP/1.1\r\nHost: n\r\n\r\n');
    const res1 = b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    const req2 = b('POST /b HTTP/1.1\r\nHost: n\r\nContent-Length: 3\r\n\r\nabc');
    const res2 = b('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n');
    w.fromVisitor(req1);
    w.toVisitor(res1);
    w.fromVisitor(req2);
    w.toVisitor(res2);
    expect(summary(seen)).toEqual([
      { method: 'GET', target: '/a?x=1', status: 200, bytesIn: req1.length, bytesOut: res1.length },
      { method: 'POST', target: '/b', status: 201, bytesIn: req2.length, bytesOut: res2.length },
    ]);
    w.closed();
    expect(seen).toHaveLength(2);
  });

  it('pipelined requests in one chunk and their responses in one chunk', () => {
    const { watch: w, seen } = watch();
    const reqs = ['GET /1 HTTP/1.1\r\nHost: n\r\n\r\n', 'HEAD /2 HTTP/1.1\r\nHost: n\r\n\r\n', 'GET /3 HTTP/1.1\r\nHost: n\r\n\r\n'];
    const ress = ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n'];
    w.fromVisitor(b(reqs.join('')));
    w.toVisitor(b(ress.join('')));
    expect(summary(seen)).toEqual([
      { method: 'GET', target: '/1', status: 200, bytesIn: reqs[0]!.length, bytesOut: ress[0]!.length },
      { method: 'HEAD', target: '/2', status: 200, bytesIn: reqs[1]!.length, bytesOut: ress[1]!.length },
      { method: 'GET', target: '/3', status: 304, bytesIn: reqs[2]!.length, bytesOut: ress[2]!.length },
    ]);
  });

  it('gives the same exchanges whatever byte boundary the reads fall on', () => {
    const req = b('POST /up HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: n\r\n\r\n');
    const res = b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n');
    const expected = [
      { method: 'POST', target: '/up', status: 200, bytesIn: req.indexOf('GET /next'), bytesOut: res.indexOf('HTTP/1.1 204') },
      { method: 'GET', target: '/next', status: 204, bytesIn: req.length - req.indexOf('GET /next'), bytesOut: res.length - res.indexOf('HTTP/1.1 204') },
    ];
    for (let cut = 0; cut < Math.max(req.length, res.length); cut++) {
      const { watch: w, seen } = watch();
      feedSplit(w, 'in', req, cut);
      feedSplit(w, 'out', res, cut);
      expect(summary(seen), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('a response without length ends when the agent ends the stream', () => {
    const { watch: w, seen } = watch();
    w.fromVisitor(b('GET / HTTP/1.0\r\n\r\n'));
    w.toVisitor(b('HTTP/1.0 200 OK\r\n\r\nsome '));
    w.toVisitor(b('body'));
    expect(seen).toHaveLength(0);
    w.responsesEnded();
    expect(summary(seen)).toEqual([{ method: 'GET', target: '/', status: 200, bytesIn: 18, bytesOut: 28 }]);
  });

  it('an upgrade is one exchange of every byte both ways, reported at the close', () => {
    const { watch: w, seen } = watch();
    const req = b('GET /ws HTTP/1.1\r\nHost: n\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const res = b('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    w.fromVisitor(req);
    w.toVisitor(res);
    w.fromVisitor(b('\x81\x05hello'));
    w.toVisitor(b('\x81\x02ok'));
    expect(seen).toHaveLength(0);
    w.closed();
    expect(summary(seen)).toEqual([{ method: 'GET', target: '/ws', status: 101, bytesIn: req.length + 7, bytesOut: res.length + 4 }]);
  });

  it('a refused upgrade leaves the connection HTTP', () => {
    const { watch: w, seen } = watch();
    w.fromVisitor(b('GET /ws HTTP/1.1\r\nHost: n\r\nUpgrade: websocket\r\n\r\n'));
    w.toVisitor(b('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n'));
    w.fromVisitor(b('GET /plain HTTP/1.1\r\nHost: n\r\n\r\n'));
    w.toVisitor(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expect(seen.map((e) => [e.target, e.status])).toEqual([['/ws', 426], ['/plain', 200]]);
  });

  it('requests left unanswered at the close are reported without a status; an idle close is none', () => {
    const { watch: w, seen } = watch();
    w.fromVisitor(b('GET /slow HTTP/1.1\r\nHost: n\r\n\r\nGET /par'));
    w.closed();
    expect(summary(seen)).toEqual([
      { method: 'GET', target: '/slow', status: null, bytesIn: 31, bytesOut: 0 },
      { method: null, target: null, status: null, bytesIn: 8, bytesOut: 0 },
    ]);
    const idle = watch();
    idle.watch.fromVisitor(b('GET / HTTP/1.1\r\n\r\n'));
    idle.watch.toVisitor(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    idle.watch.closed();
    expect(idle.seen).toHaveLength(1);
  });

  it('bytes it cannot frame end the pairing: the rest is one exchange at the close', () => {
    const { watch: w, seen } = watch();
    w.fromVisitor(b('GET /a HTTP/1.1\r\nHost: n\r\n\r\n'));
    w.toVisitor(b('HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nxyz'));
    w.toVisitor(b('more'));
    w.closed();
    expect(summary(seen)).toEqual([{ method: 'GET', target: '/a', status: null, bytesIn: 28, bytesOut: 48 }]);
  });

  it('a request head completed after its answer came (the agent\'s 408 to a partial head) throws nothing', () => {
    const { watch: w, seen } = watch();
    w.fromVisitor(b('GET /1 HTTP/1.1\r\nHost: n\r\n\r\n'));
    w.toVisitor(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    w.fromVisitor(b('GET /2 HTTP/1.1\r\nHost: n\r\n'));
    w.toVisitor(b('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
    // The visitor's late rest of the head, read during the edge's half-open grace: this ran in a
    // socket 'data' listener, where a throw ends the edge process.
    expect(() => w.fromVisitor(b('\r\n'))).not.toThrow();
    w.closed();
    expect(summary(seen).map((e) => e.status)).toEqual([200, 408]);
  });
});
