import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../helpers/eventually.js';
import { entry, seedSearchIndex, type SearchSeed } from '../helpers/search-seed.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const CHROMIUM = '/usr/bin/chromium';
const DAY = 24 * 3600_000;
const HWP = '2024_연말보고서_최종.hwp';

/** The result rows, top to bottom, as `share:path`. */
async function hitKeys(page: Page): Promise<string[]> {
  return page.locator('ol.hits li.hit').evaluateAll((rows) => rows.map((row) => `${row.getAttribute('data-share')}:${row.getAttribute('data-path')}`));
}

describe('the apex search page in headless Chromium, through the real edge and a real share agent that lists itself', () => {
  let edge: TestEdge;
  let agent: Agent;
  let data: SearchSeed;
  let browser: Browser;
  let context: BrowserContext | undefined;
  let folder: string;
  let aliceToken: string;
  const content = crypto.randomBytes(150_000);
  const apex = (pathAndQuery = '/search'): string => `http://${edge.edge.config.domain}:${edge.edge.httpPort}${pathAndQuery}`;

  beforeAll(async () => {
    edge = await startTestEdge();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-search-browser-'));
    fs.mkdirSync(path.join(folder, 'share', 'reports'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'share', 'reports', HWP), content);
    aliceToken = await edge.createAccount('alice');
    // Alice's share lists itself (--list): the page finds what the real agent published.
    agent = await startTestAgent(edge, [{ kind: 'share', dir: path.join(folder, 'share'), name: 'alice-docs', list: true }], { token: aliceToken });
    // 25 report files of bob's (online, a password share) and carol's (offline): pagination, lock and offline marks.
    const bobFiles = Array.from({ length: 24 }, (_, i) => entry(`/archive/report-${String(i).padStart(2, '0')}.pdf`, 1_000_000 + i, Date.now() - (i + 1) * DAY, 'application/pdf'));
    data = await seedSearchIndex(edge, [
      { owner: 'bob', label: 'bob-vault', locked: true, files: bobFiles },
      { owner: 'carol', label: 'carol-pc', online: false, files: [entry('/보고서 초안.txt', 900, Date.now() - DAY, 'text/plain')] },
    ]);
    await eventually('alice-docs listed by its agent', async () => {
      const answer = await fetch(`${edge.serverUrl}/api/v1/search?q=${encodeURIComponent('연말보고서')}`, { headers: { authorization: `Bearer ${aliceToken}` } });
      return ((await answer.json()) as { total: number }).total === 1 ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1'] });
  });
  afterAll(async () => {
    await browser?.close();
    agent?.stop();
    await data?.close();
    await edge?.close();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  async function open(width = 1280): Promise<Page> {
    await context?.close();
    context = await browser.newContext({ viewport: { width, height: 800 }, acceptDownloads: true });
    return context.newPage();
  }

  async function signIn(page: Page): Promise<void> {
    const first = await page.goto(apex());
    expect(first?.status()).toBe(401);
    expect(await page.locator('.card p').first().innerText()).toContain('for its members');
    await page.fill('#token', aliceToken);
    await Promise.all([page.waitForURL(apex()), page.click('#sign-in button[type=submit]')]);
    expect(await page.locator('.who').innerText()).toContain('signed in as alice');
  }

  test('members mode: a wrong token is refused, the right one signs in with an HttpOnly cookie on the apex only', async () => {
    const page = await open();
    await page.goto(apex());
    await page.fill('#token', 'udns_notreallyatokennotreallyatoken00');
    await page.click('#sign-in button[type=submit]');
    expect(await page.locator('[role=alert]').innerText()).toContain('rejected');
    await signIn(page);
    const cookies = await context!.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'udns_search', httpOnly: true, domain: 'localhost', path: '/', sameSite: 'Lax' });
    expect(await page.evaluate(() => document.cookie).catch(() => '')).toBe('');
  });

  test('desktop: Korean by a part of a word, the result opens and downloads through the edge from the real agent', async () => {
    const page = await open();
    await signIn(page);
    await page.fill('input[name=q]', '보고서');
    await Promise.all([page.waitForURL(/\/search\?q=/), page.click('form.search button[type=submit]')]);
    expect(await hitKeys(page)).toEqual(expect.arrayContaining([`alice-docs:/reports/${HWP}`, 'carol-pc:/보고서 초안.txt']));
    const hit = page.locator(`li.hit[data-share="alice-docs"]`);
    expect(await hit.locator('.meta').innerText()).toMatch(/146 KB · \d{4}-\d\d-\d\d · by alice · [a-z0-9.+-]+\/[a-z0-9.+-]+$/);
    expect(await hit.locator('.badge-online').isVisible()).toBe(true);
    const carol = page.locator('li.hit[data-share="carol-pc"]');
    expect(await carol.locator('.badge-offline').innerText()).toBe('offline');
    expect(await carol.locator('.path').innerText()).toContain('udns get: not now (offline)');

    const [download] = await Promise.all([page.waitForEvent('download'), hit.locator('a.download').click()]);
    expect(download.suggestedFilename()).toBe(HWP);
    expect(fs.readFileSync((await download.path())!).equals(content)).toBe(true);

    // The name opens the file on the share; the query does not travel along in the Referer.
    const [request] = await Promise.all([page.waitForRequest((req) => req.url().includes('alice-docs.localhost')), hit.locator('a.name').click()]);
    expect(request.url()).toBe(`http://alice-docs.localhost:${edge.edge.httpPort}/reports/${encodeURIComponent(HWP)}`);
    expect(request.headers().referer).toBeUndefined();
  });

  test('filters, lock marks, and pagination that keeps them (the CSP lets nothing else run)', async () => {
    const page = await open();
    await signIn(page);
    const response = await page.goto(apex('/search?q=report&type=pdf&owner=bob'));
    expect(response?.headers()['content-security-policy']).toContain("script-src 'none'");
    await page.screenshot({ path: path.join(process.env.UDNS_SCREENSHOT_DIR ?? folder, 'search-desktop.png') });
    expect(await page.locator('#summary').innerText()).toBe('24 files · showing 1–20');
    expect(await page.locator('li.hit .badge-lock').count()).toBe(20);
    const firstPage = await hitKeys(page);
    expect(firstPage[0]).toBe('bob-vault:/archive/report-00.pdf');
    await Promise.all([page.waitForURL(/offset=20/), page.click('nav.pages a[rel=next]')]);
    expect(await page.locator('#summary').innerText()).toBe('24 files · showing 21–24');
    expect(await page.locator('select[name=type]').inputValue()).toBe('pdf');
    expect(await page.locator('input[name=owner]').inputValue()).toBe('bob');
    expect((await hitKeys(page)).at(-1)).toBe('bob-vault:/archive/report-23.pdf');
    await Promise.all([page.waitForURL((url) => !url.search.includes('offset')), page.click('nav.pages a[rel=prev]')]);
    expect(await hitKeys(page)).toEqual(firstPage);
  });

  test('a bad query shows the reason on the page (400), the form keeps what was typed', async () => {
    const page = await open();
    await signIn(page);
    const response = await page.goto(apex(`/search?q=report&minSize=lots`));
    expect(response?.status()).toBe(400);
    expect(await page.locator('[role=alert]').innerText()).toContain('minSize must be bytes or a size such as 500k');
    expect(await page.locator('input[name=minSize]').inputValue()).toBe('lots');
  });

  test('on a phone: no sideways scrolling, full-width download buttons, everything readable', async () => {
    const page = await open(390);
    await signIn(page);
    await page.fill('input[name=q]', 'report');
    await Promise.all([page.waitForURL(/\/search\?q=/), page.click('form.search button[type=submit]')]);
    expect(await page.locator('li.hit').count()).toBe(20);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const button = await page.locator('li.hit a.download').first().boundingBox();
    expect(button!.width).toBeGreaterThan(300);
    const name = await page.locator('li.hit a.name').first().boundingBox();
    expect(name!.x + name!.width).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(process.env.UDNS_SCREENSHOT_DIR ?? folder, 'search-phone.png'), fullPage: false });
  });

  test('--search public: anyone searches without signing in; signing out forgets the cookie', async () => {
    edge.edge.applyConfig({ ...edge.edge.config, search: 'public' });
    try {
      const page = await open();
      const response = await page.goto(apex(`/search?q=${encodeURIComponent('연말')}`));
      expect(response?.status()).toBe(200);
      expect(await hitKeys(page)).toEqual([`alice-docs:/reports/${HWP}`]);
      // Anonymous: through the edge; a member who signs in through the link sees their own path.
      expect(await page.locator('li.hit .path').innerText()).toContain('udns get: relay');
      await Promise.all([page.waitForURL(apex('/search/login')), page.click('.who a[href="/search/login"]')]);
      expect(await page.locator('.card p').first().innerText()).toContain('Anyone may search');
      await page.fill('#token', aliceToken);
      await Promise.all([page.waitForURL(apex()), page.click('#sign-in button[type=submit]')]);
      await page.goto(apex(`/search?q=${encodeURIComponent('연말')}`));
      expect(await page.locator('.who').innerText()).toContain('signed in as alice');
      expect(await page.locator('li.hit .path').innerText()).toMatch(/udns get: (direct|push\/relay)/);
    } finally {
      edge.edge.applyConfig({ ...edge.edge.config, search: 'members' });
    }
    const page = await open();
    await signIn(page);
    await Promise.all([page.waitForURL(apex()), page.click('.who button[type=submit]')]);
    expect(await context!.cookies()).toEqual([]);
    expect(await page.locator('#sign-in').count()).toBe(1);
  });
});
