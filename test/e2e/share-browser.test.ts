import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { makePng, pngSize } from '../helpers/tiny-png.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const CHROMIUM = '/usr/bin/chromium';
const KOREAN_TEXT = '안녕하세요, 회의는 3시입니다.\n';
const PASSWORD = 'correct horse battery';

/** The folders behind the three shares: a read-only one with a bit of everything, an upload inbox, a password vault. */
function makeFolders(): { base: string; photos: string; inbox: string; vault: string } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-share-browser-'));
  const photos = path.join(base, 'photos');
  fs.mkdirSync(path.join(photos, '여행 사진'), { recursive: true });
  fs.mkdirSync(path.join(photos, 'docs'));
  fs.writeFileSync(path.join(photos, '회의 메모.txt'), KOREAN_TEXT);
  fs.writeFileSync(path.join(photos, 'notes.txt'), 'plain notes\n');
  fs.writeFileSync(path.join(photos, 'picture.png'), makePng(200, 120));
  fs.writeFileSync(path.join(photos, 'big.bin'), Buffer.alloc(300_000, 7));
  fs.writeFileSync(path.join(photos, '여행 사진', 'beach.png'), makePng(64, 48));
  fs.writeFileSync(path.join(photos, '여행 사진', '일정.txt'), 'day 1: beach\n');
  fs.writeFileSync(path.join(photos, 'docs', 'readme.md'), '# docs\n');
  const inbox = path.join(base, 'inbox');
  fs.mkdirSync(inbox);
  const vault = path.join(base, 'vault');
  fs.mkdirSync(vault);
  fs.writeFileSync(path.join(vault, 'secret plan.txt'), 'only with the password\n');
  return { base, photos, inbox, vault };
}

/** The names in the listing table, top to bottom (the parent row has none). */
async function rowNames(page: Page, type?: 'file' | 'dir'): Promise<string[]> {
  const selector = type === undefined ? '#listing tr[data-name]' : `#listing tr[data-type="${type}"]`;
  return page.locator(selector).evaluateAll((rows) => rows.map((row) => row.getAttribute('data-name') ?? ''));
}

/** Picks files in the upload form; the page's script uploads them and reloads the listing. */
async function uploadThroughPicker(page: Page, files: { name: string; mimeType: string; buffer: Buffer }[]): Promise<void> {
  const reloaded = page.waitForEvent('load');
  await page.setInputFiles('#upload-input', files);
  await reloaded;
}

describe('a shared folder in headless Chromium, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let browser: Browser;
  let folders: ReturnType<typeof makeFolders>;
  let context: BrowserContext;
  const url = (name: string, sharePath = '/'): string => `http://${name}.${edge.edge.config.domain}:${edge.edge.httpPort}${sharePath}`;

  beforeAll(async () => {
    folders = makeFolders();
    edge = await startTestEdge();
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: folders.photos, name: 'photos' },
      { kind: 'share', dir: folders.inbox, name: 'inbox', allowUpload: true },
      { kind: 'share', dir: folders.vault, name: 'vault', password: PASSWORD },
    ]);
    // The edge routes by Host; every <name>.localhost must reach its loopback port.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1'] });
  });
  afterAll(async () => {
    await browser?.close();
    agent?.stop();
    await edge?.close();
    if (folders) fs.rmSync(folders.base, { recursive: true, force: true });
  });

  async function open(options: { javaScriptEnabled?: boolean; width?: number } = {}): Promise<Page> {
    await context?.close();
    context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: 800 }, javaScriptEnabled: options.javaScriptEnabled ?? true, acceptDownloads: true });
    return context.newPage();
  }

  test('the listing renders: folders first, every entry, and a real screenshot', async () => {
    const page = await open();
    const response = await page.goto(url('photos'));
    expect(response?.status()).toBe(200);
    expect(await rowNames(page, 'dir')).toEqual(['docs', '여행 사진']);
    expect(await rowNames(page, 'file')).toEqual(['big.bin', 'notes.txt', 'picture.png', '회의 메모.txt']);
    expect(await rowNames(page)).toEqual(['docs', '여행 사진', 'big.bin', 'notes.txt', 'picture.png', '회의 메모.txt']);
    expect(await page.locator('#listing tr[data-name="big.bin"] .col-size').innerText()).toBe('293 KB');
    expect(await page.title()).toBe(`photos.${edge.edge.config.domain}`);

    const shot = path.join(folders.base, 'listing.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = fs.readFileSync(shot);
    expect(pngSize(png).width).toBe(1280);
    expect(png.length).toBeGreaterThan(10_000);

    const phone = await open({ width: 390 });
    await phone.goto(url('photos'));
    expect(await phone.locator('#listing .col-modified').first().isVisible()).toBe(false);
    expect(await phone.locator('#listing tr[data-name="notes.txt"] .sub').isVisible()).toBe(true);
  });

  test('clicking a folder opens it; the parent row and the breadcrumbs lead back', async () => {
    const page = await open();
    await page.goto(url('photos'));
    await page.click('#listing tr[data-name="여행 사진"] a.entry');
    await page.waitForURL(url('photos', '/%EC%97%AC%ED%96%89%20%EC%82%AC%EC%A7%84/'));
    expect(await rowNames(page)).toEqual(['beach.png', '일정.txt']);
    expect(await page.locator('.crumbs [aria-current="page"]').innerText()).toBe('여행 사진');

    await page.click('#listing tr.parent-row a');
    await page.waitForURL(url('photos'));
    await page.click('#listing tr[data-name="docs"] a.entry');
    await page.waitForURL(url('photos', '/docs/'));
    expect(await rowNames(page)).toEqual(['readme.md']);
    await page.click(`.crumbs a[href="/"]`);
    await page.waitForURL(url('photos'));
    expect(await rowNames(page, 'dir')).toEqual(['docs', '여행 사진']);
  });

  test('sorting by size puts the biggest file first, and a second click reverses it', async () => {
    const page = await open();
    await page.goto(url('photos'));
    await page.click('#listing th.col-size a');
    await page.waitForURL(/\?sort=size&order=desc$/);
    expect(await rowNames(page, 'file')).toEqual(['big.bin', 'picture.png', '회의 메모.txt', 'notes.txt']);
    expect(await page.locator('#listing th.col-size').getAttribute('aria-sort')).toBe('descending');
    await page.click('#listing th.col-size a');
    await page.waitForURL(/\?sort=size&order=asc$/);
    expect(await rowNames(page, 'file')).toEqual(['notes.txt', '회의 메모.txt', 'picture.png', 'big.bin']);
  });

  test('a Korean-named text file opens inline with its text intact; an image shows as an image', async () => {
    const page = await open();
    await page.goto(url('photos'));
    await page.click('#listing tr[data-name="회의 메모.txt"] a.entry');
    await page.waitForURL(url('photos', '/%ED%9A%8C%EC%9D%98%20%EB%A9%94%EB%AA%A8.txt'));
    expect(await page.locator('body').innerText()).toBe(KOREAN_TEXT);

    await page.goto(url('photos'));
    await page.click('#listing tr[data-name="picture.png"] a.entry');
    await page.waitForURL(url('photos', '/picture.png'));
    const size = await page.locator('img').evaluate((img: HTMLImageElement) => ({ width: img.naturalWidth, height: img.naturalHeight }));
    expect(size).toEqual({ width: 200, height: 120 });
  });

  test('the download button saves the file under its own (Korean) name', async () => {
    const page = await open();
    await page.goto(url('photos'));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#listing tr[data-name="회의 메모.txt"] .col-actions a'),
    ]);
    expect(download.suggestedFilename()).toBe('회의 메모.txt');
    expect(fs.readFileSync(await download.path(), 'utf8')).toBe(KOREAN_TEXT);
  });

  test('an upload through the file picker lands on disk; a clash asks, then replaces or keeps both', async () => {
    const page = await open();
    await page.goto(url('inbox'));
    expect(await page.locator('#listing .empty').innerText()).toBe('This folder is empty.');
    await uploadThroughPicker(page, [
      { name: '보고서.txt', mimeType: 'text/plain', buffer: Buffer.from('first version\n') },
      { name: 'photo.png', mimeType: 'image/png', buffer: makePng(32, 32) },
    ]);
    expect(await rowNames(page)).toEqual(['photo.png', '보고서.txt']);
    expect(await page.locator('#listing tr.fresh').count()).toBe(2);
    expect(fs.readFileSync(path.join(folders.inbox, '보고서.txt'), 'utf8')).toBe('first version\n');
    expect(pngSize(fs.readFileSync(path.join(folders.inbox, 'photo.png')))).toEqual({ width: 32, height: 32 });

    const questions: string[] = [];
    page.once('dialog', (dialog) => { questions.push(dialog.message()); void dialog.accept(); });
    await uploadThroughPicker(page, [{ name: '보고서.txt', mimeType: 'text/plain', buffer: Buffer.from('second version\n') }]);
    expect(questions).toEqual([expect.stringContaining('"보고서.txt" already exists')]);
    expect(fs.readFileSync(path.join(folders.inbox, '보고서.txt'), 'utf8')).toBe('second version\n');

    page.once('dialog', (dialog) => { void dialog.dismiss(); });
    await uploadThroughPicker(page, [{ name: '보고서.txt', mimeType: 'text/plain', buffer: Buffer.from('third version\n') }]);
    expect((await rowNames(page)).sort()).toEqual(['photo.png', '보고서 (1).txt', '보고서.txt']);
    expect(await page.locator('#listing tr.fresh').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-name')))).toEqual(['보고서 (1).txt']);
    expect(fs.readFileSync(path.join(folders.inbox, '보고서.txt'), 'utf8')).toBe('second version\n');
    expect(fs.readFileSync(path.join(folders.inbox, '보고서 (1).txt'), 'utf8')).toBe('third version\n');
  });

  test('without JavaScript the upload form still works and says what happened', async () => {
    const page = await open({ javaScriptEnabled: false });
    await page.goto(url('inbox'));
    await page.setInputFiles('#upload-input', [{ name: 'no script.txt', mimeType: 'text/plain', buffer: Buffer.from('plain form\n') }]);
    await page.click('#upload-form button[type="submit"]');
    await page.waitForURL(/\?uploaded=1$/);
    expect(await page.locator('p[role="status"]').innerText()).toBe('Uploaded 1 file.');
    expect(await rowNames(page)).toContain('no script.txt');
    expect(fs.readFileSync(path.join(folders.inbox, 'no script.txt'), 'utf8')).toBe('plain form\n');
  });

  test('a read-only share shows no upload form', async () => {
    const page = await open();
    await page.goto(url('photos'));
    expect(await page.locator('#upload-form').count()).toBe(0);
  });

  test('a password share: the login form, a wrong password, the right one, then log out', async () => {
    const page = await open();
    await page.goto(url('vault', '/'));
    await page.waitForURL(/\/\.udns\/login\?next=/);
    expect(await page.locator('#listing').count()).toBe(0);
    expect(await page.locator('input[name="password"]').evaluate((input) => input === document.activeElement)).toBe(true);

    await page.fill('input[name="password"]', 'not it');
    await page.click('button[type="submit"]');
    expect(await page.locator('[role="alert"]').innerText()).toBe('Wrong password');
    expect(await rowNames(page)).toEqual([]);

    await page.fill('input[name="password"]', PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(url('vault', '/'));
    expect(await rowNames(page)).toEqual(['secret plan.txt']);

    await page.click('form[action="/.udns/logout"] button');
    await page.waitForURL(/\/\.udns\/login\?next=/);
    expect(await page.locator('input[name="password"]').count()).toBe(1);
  });
});
