import { describe, expect, test } from 'vitest';
import { ExchangeRing, type ExchangeStart } from './exchange-ring.js';

const start = (target: string): ExchangeStart => ({
  route: 'r', origin: { host: '127.0.0.1', port: 1 }, remoteAddress: '198.51.100.7', method: 'GET', target, requestHead: Buffer.alloc(100),
});

describe('the exchange ring', () => {
  test('keeps at most maxExchanges, dropping the oldest', () => {
    const ring = new ExchangeRing({ maxExchanges: 3 });
    for (let i = 0; i < 10; i++) ring.start(start(`/${i}`));
    expect(ring.list().map((exchange) => exchange.target)).toEqual(['/7', '/8', '/9']);
    expect(ring.get(1)).toBeUndefined();
    expect(ring.get(10)?.target).toBe('/9');
    expect(ring.heldBytes).toBe(300);
  });

  test('keeps at most maxBytes of heads and bodies, dropping the oldest; the newest stays', () => {
    const ring = new ExchangeRing({ maxBytes: 1000, bodyCapBytes: 800 });
    const first = ring.start(start('/a'));
    ring.addBody(first, 'responseBody', Buffer.alloc(500));
    const second = ring.start(start('/b'));
    expect(ring.list().map((exchange) => exchange.id)).toEqual([first.id, second.id]);
    ring.addBody(second, 'requestBody', Buffer.alloc(500));
    // 600 + 600 > 1000: the oldest goes.
    expect(ring.list().map((exchange) => exchange.id)).toEqual([second.id]);
    expect(ring.heldBytes).toBe(600);
    // The only one left stays even when alone over the bound.
    ring.addBody(second, 'responseBody', Buffer.alloc(800));
    expect(ring.size).toBe(1);
    expect(ring.heldBytes).toBeLessThanOrEqual(100 + 800 + 800);
    // An evicted exchange's growth (its connection still open) is not counted.
    ring.addBody(first, 'responseBody', Buffer.alloc(300));
    expect(ring.heldBytes).toBe(second.bytes);
  });

  test('keeps each body up to the cap, counts all of it, and copies what it keeps', () => {
    const ring = new ExchangeRing({ bodyCapBytes: 10 });
    const exchange = ring.start(start('/'));
    const chunk = Buffer.from('0123456789abcdef');
    ring.addBody(exchange, 'requestBody', chunk.subarray(0, 6));
    ring.addBody(exchange, 'requestBody', chunk.subarray(6));
    chunk.fill(0x78);
    expect(Buffer.concat(exchange.requestBody.chunks).toString()).toBe('0123456789');
    expect(exchange.requestBody).toMatchObject({ kept: 10, total: 16 });
    expect(ring.heldBytes).toBe(110);
  });

  test('records at most recordPerSecond a second after a burst of as many; the rest are counted, kept nowhere, and still carry their tap', async () => {
    const ring = new ExchangeRing({ recordPerSecond: 20 });
    const seen: number[] = [];
    ring.on('changed', (exchange: { id: number }) => seen.push(exchange.id));
    const started = Array.from({ length: 50 }, (_, i) => ring.start(start(`/${i}`)));
    expect(ring.size).toBe(20);
    expect(ring.notRecorded).toBe(30);
    const skipped = started[49]!;
    expect(skipped.id).toBe(0);
    expect(ring.get(0)).toBeUndefined();
    // Its tap goes on using it: bodies are counted, never kept, and nobody hears of it.
    ring.addBody(skipped, 'responseBody', Buffer.alloc(500));
    ring.changed(skipped);
    expect(skipped.responseBody).toMatchObject({ total: 500, kept: 0 });
    expect(ring.heldBytes).toBe(2000);
    expect(seen).toHaveLength(20);
    expect(seen).not.toContain(0);
    // A replay is always recorded: somebody asked for it.
    expect(ring.start({ ...start('/again'), replayOf: 3 }).id).toBe(21);
    // The allowance comes back with time.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ring.start(start('/later')).id).toBe(22);
    ring.clear();
    expect(ring.notRecorded).toBe(0);
  });

  test('clear empties it; ids keep growing', () => {
    const ring = new ExchangeRing();
    ring.start(start('/a'));
    ring.clear();
    expect(ring.size).toBe(0);
    expect(ring.heldBytes).toBe(0);
    expect(ring.start(start('/b')).id).toBe(2);
  });
});
