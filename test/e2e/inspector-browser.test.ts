import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { eventually } from '../helpers/eventually.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

const CHROMIUM = '/usr/bin/chromium';

interface Seen {
  method: string;
  url: string;
  body: string;
}

describe('the request inspector in headless Chromium, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let origin: http.Server;
  let browser: Browser;
  let page: Page;
  const seen: Seen[] = [];

  /** The list's rows, top (newest) first, as `METHOD path`. */
  const rows = (): Promise<string[]> => page.locator('#list tbody tr').evaluateAll((trs) => trs.map((tr) => `${tr.children[2]!.textContent} ${tr.children[3]!.firstChild!.textContent}`));

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: request.method!, url: request.url!, body });
        if (request.url!.startsWith('/missing')) response.statusCode = 404;
        // Echoes HTML bodies back as HTML: what a careless app might do.
        response.setHeader('content-type', request.headers['content-type']?.includes('html') ? 'text/html' : 'application/json');
        response.end(request.headers['content-type']?.includes('html') ? body : JSON.stringify({ ok: true, path: request.url }));
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    agent = await startAgent({
      serverUrl: edge.serverUrl, token: edge.adminToken, transport: 'raw',
      routes: [{ kind: 'http', localPort: (origin.address() as AddressInfo).port, name: 'shop' }],
      inspect: { port: 0, nextFreePort: false },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    agent?.stop();
    await new Promise((resolve) => origin?.close(resolve));
    await edge?.close();
  });

  test('requests appear live, JSON is pretty-printed, filters work, an edited replay reaches the origin and is listed as a replay; captured HTML never runs', async () => {
    const url = agent.inspector!.url!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await page.goto(url);
    await eventually('the live stream connected', async () => ((await page.locator('#live').innerText()) === 'live' ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });

    // Live: the page was open before the requests were made.
    const order = JSON.stringify({ item: 'tea', quantity: 2, notes: { gift: true } });
    expect((await visit(edge, 'shop', '/api/orders?src=test', { method: 'POST', headers: { 'content-type': 'application/json' }, body: order })).status).toBe(200);
    expect((await visit(edge, 'shop', '/missing/page')).status).toBe(404);
    const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    expect((await visit(edge, 'shop', '/comment', { method: 'POST', headers: { 'content-type': 'text/html', 'x-evil': '<img src=y onerror="window.__pwned = 3">' }, body: evil })).status).toBe(200);
    await eventually('three rows, live', async () => ((await rows()).length === 3 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    expect(await rows()).toEqual(['POST /comment', 'GET /missing/page', 'POST /api/orders?src=test']);
    expect(await page.locator('#list tbody tr').nth(1).locator('td.status').innerText()).toBe('404');

    // The JSON body, pretty-printed; the response too.
    await page.locator('#list tbody tr', { hasText: '/api/orders' }).click();
    await eventually('the detail', async () => ((await page.locator('#detail-title').innerText()) === 'POST /api/orders?src=test' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    expect(await page.locator('#detail .request .body pre').innerText()).toBe(JSON.stringify(JSON.parse(order), null, 2));
    expect(await page.locator('#detail .response .body pre').innerText()).toBe(JSON.stringify({ ok: true, path: '/api/orders?src=test' }, null, 2));
    expect(await page.locator('#detail .request table.headers').innerText()).toMatch(/X-Forwarded-For\s+127\.0\.0\.1/i);

    // Captured HTML is shown as text, never run: bodies and header values alike.
    await page.locator('#list tbody tr', { hasText: '/comment' }).click();
    await eventually('the comment detail', async () => ((await page.locator('#detail-title').innerText()) === 'POST /comment' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    expect(await page.locator('#detail .request .body pre').innerText()).toBe(evil);
    expect(await page.locator('#detail .response .body pre').innerText()).toBe(evil);
    expect(await page.locator('#detail .request table.headers').innerText()).toContain('<img src=y onerror=');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#detail img, #list img').count()).toBe(0);

    // Filters: method, status class, text.
    await page.selectOption('#filter-method', 'GET');
    await eventually('GET only', async () => ((await rows()).join() === 'GET /missing/page' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    await page.selectOption('#filter-method', '');
    await page.selectOption('#filter-status', '2xx');
    await eventually('2xx only', async () => ((await rows()).join() === 'POST /comment,POST /api/orders?src=test' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    await page.selectOption('#filter-status', '');
    await page.fill('#filter-q', 'quantity');
    await eventually('text search in bodies', async () => ((await rows()).join() === 'POST /api/orders?src=test' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    await page.fill('#filter-q', '');
    await eventually('all again', async () => ((await rows()).length === 3 ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });

    // Edit and replay: the origin gets the edited request; the list gets a new entry marked as a replay.
    await page.locator('#list tbody tr', { hasText: '/api/orders' }).click();
    await eventually('the order detail', async () => ((await page.locator('#detail-title').innerText()) === 'POST /api/orders?src=test' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    const before = seen.length;
    await page.click('#edit-replay');
    expect(await page.inputValue('#edit-method')).toBe('POST');
    await page.fill('#edit-path', '/api/orders/replayed');
    await page.fill('#edit-body', '{"item":"coffee","quantity":9}');
    await page.click('#edit-send');
    await eventually('the replay reached the origin', () => (seen.length > before ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    expect(seen.slice(before)).toEqual([{ method: 'POST', url: '/api/orders/replayed', body: '{"item":"coffee","quantity":9}' }]);
    await eventually('the replay listed and shown', async () => ((await page.locator('#detail-title').innerText()) === 'POST /api/orders/replayed' ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    const top = page.locator('#list tbody tr').first();
    expect(await top.locator('td.path').innerText()).toMatch(/^\/api\/orders\/replayed\s*replay of #1$/);
    expect(await top.locator('td.status').innerText()).toBe('200');
    expect(await page.locator('#detail-meta').innerText()).toContain('replay of #1');
    expect(await page.locator('#detail .request .body pre').innerText()).toBe(JSON.stringify({ item: 'coffee', quantity: 9 }, null, 2));

    // A plain replay from the page too; the edge never saw the replays (sent to the origin directly).
    await page.click('#replay');
    await eventually('the second replay', () => (seen.length === before + 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/api/orders/replayed', body: '{"item":"coffee","quantity":9}' });
  });
});
