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

  test('clear empties it; ids keep growing', () => {
    const ring = new ExchangeRing();
    ring.start(start('/a'));
    ring.clear();
    expect(ring.size).toBe(0);
    expect(ring.heldBytes).toBe(0);
    expect(ring.start(start('/b')).id).toBe(2);
  });
});
