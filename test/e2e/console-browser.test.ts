import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentProcess } from '../helpers/agent-process.js';
import { apiCall, dig } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { PACKAGE_ROOT, runCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(PACKAGE_ROOT, 'test-output', 'console');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

/** A PNG file's width and height, from its IHDR chunk (after checking the signature). */
function pngSize(file: string): { width: number; height: number; bytes: number } {
  const data = fs.readFileSync(file);
  expect(data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  expect(data.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20), bytes: data.length };
}

describe('the console in headless Chromium, against the real edge with a real agent online', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: AgentProcess;
  let browser: Browser;
  let aliceToken: string;
  const contexts: BrowserContext[] = [];
  const apex = (pathAndQuery = '/console'): string => `http://${edge.edge.config.domain}:${edge.edge.httpPort}${pathAndQuery}`;

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    edge = await startTestEdge();
    aliceToken = await edge.createAccount('alice');
    origin = await startHttpOrigin();
    agent = await AgentProcess.start(['http', String(origin.port), '--name', 'alice-web'], { UDNS_TOKEN: aliceToken, UDNS_SERVER: edge.serverUrl });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1'] });
  }, 60_000);
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  async function open(viewport = DESKTOP): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    return context.newPage();
  }

  async function signInWithToken(page: Page, token: string): Promise<void> {
    const first = await page.goto(apex());
    expect(first?.status()).toBe(200);
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(apex('/console?done=signed-in')), page.click('#sign-in button[type=submit]')]);
  }

  /** The console's cookie as the browser keeps it. */
  async function sessionCookie(page: Page): Promise<{ name: string; value: string; httpOnly: boolean; sameSite: string; secure: boolean }> {
    const cookies = await page.context().cookies(apex());
    const cookie = cookies.find((c) => c.name === 'udns_console');
    expect(cookie).toBeDefined();
    return cookie!;
  }

  /** A POST as a script elsewhere would send it, with this cookie (or none). */
  function post(pathname: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(apex(pathname), {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** GET /echo on alice-web as a visitor (node:http: fetch would not send our Host header). */
  const visitName = (): Promise<number> => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: '/echo', agent: false, headers: { host: `alice-web.localhost:${edge.edge.httpPort}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
  const aRecords = async (name: string): Promise<string[]> => (await dig(edge, `${name}.${edge.edge.config.domain}`, 'A')).answers.filter((line) => line.includes(' A '));
  const recordValues = async (): Promise<string[]> => {
    const answer = await apiCall(edge, aliceToken, 'GET', '/names/alice-web/records');
    return (answer.body as { records: Array<{ owner: string; type: string; value: string }> }).records.map((r) => `${r.owner} ${r.type} ${r.value}`);
  };

  let alicePage: Page;

  test('a member signs in with a token: an HttpOnly SameSite=Strict session cookie; the name shows online through the relay', async () => {
    alicePage = await open();
    await signInWithToken(alicePage, aliceToken);
    expect(await alicePage.locator('#account').innerText()).toBe('alice');
    expect(await alicePage.locator('#notice').innerText()).toContain('Signed in');
    const row = alicePage.locator('tr[data-name="alice-web"]');
    expect(await row.locator('.state').innerText()).toBe('online');
    expect(await row.innerText()).toContain('relay');
    expect(await alicePage.locator('#routes-table').innerText()).toContain('http://alice-web.localhost');
    const cookie = await sessionCookie(alicePage);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
    // The cookie is the session id: nowhere in the page, and the database holds only its hash.
    expect(await alicePage.content()).not.toContain(cookie.value);
    expect(fs.readFileSync(path.join(edge.dataDir, 'udns.db')).includes(Buffer.from(cookie.value))).toBe(false);
    // Traffic: the visit below is counted and charted (the meter is flushed before the chart is read).
    expect(await visitName()).toBe(200);
    await eventually('the visit charted', async () => {
      await alicePage.reload();
      const total = await alicePage.locator('#traffic-total').innerText().catch(() => '');
      return /^(?!0 B)\d/.test(total) ? true : undefined;
    }, { timeoutMs: 15_000, intervalMs: 200 });
    await alicePage.screenshot({ path: path.join(SHOTS, 'member-desktop.png'), fullPage: true });
    const shot = pngSize(path.join(SHOTS, 'member-desktop.png'));
    expect(shot.width).toBe(DESKTOP.width);
    expect(shot.bytes).toBeGreaterThan(20_000);
  });

  test('add, change and delete a DNS record in the page: the edge\'s DNS answers each change at once', async () => {
    await alicePage.fill('#add-record input[name=owner]', 'www.alice-web');
    await alicePage.selectOption('#add-record select[name=type]', 'A');
    await alicePage.fill('#add-record input[name=value]', '203.0.113.9');
    await alicePage.fill('#add-record input[name=ttl]', '300');
    await Promise.all([alicePage.waitForURL(apex('/console?done=record-added')), alicePage.click('#add-record button[type=submit]')]);
    expect(await alicePage.locator('#records-table').innerText()).toContain('203.0.113.9');
    expect(await aRecords('www.alice-web')).toEqual(['www.alice-web.localhost. 300 IN A 203.0.113.9']);

    // A bad value: the record rules' own message, nothing changed.
    await alicePage.fill('#add-record input[name=owner]', 'www.alice-web');
    await alicePage.fill('#add-record input[name=value]', '999.1.1.1');
    const refused = await Promise.all([alicePage.waitForResponse((r) => r.url().endsWith('/console/records/add')), alicePage.click('#add-record button[type=submit]')]);
    expect(refused[0].status()).toBe(400);
    expect(await alicePage.locator('#error').innerText()).toContain('an A record needs an IPv4 address');
    expect(await recordValues()).toEqual(['www.alice-web A 203.0.113.9']);

    const row = alicePage.locator('tr[data-record="www.alice-web A 203.0.113.9"]');
    await row.locator('input[name=newValue]').fill('203.0.113.10');
    await Promise.all([alicePage.waitForURL(apex('/console?done=record-changed')), row.locator('button', { hasText: 'Change' }).click()]);
    expect(await aRecords('www.alice-web')).toEqual(['www.alice-web.localhost. 300 IN A 203.0.113.10']);

    await Promise.all([
      alicePage.waitForURL(apex('/console?done=record-deleted')),
      alicePage.locator('tr[data-record="www.alice-web A 203.0.113.10"] button', { hasText: 'Delete' }).click(),
    ]);
    expect(await aRecords('www.alice-web')).toEqual([]);
    expect(await recordValues()).toEqual([]);
  });

  test('create a token (shown once, it works), then revoke it (it no longer works)', async () => {
    await alicePage.fill('#create-token input[name=label]', 'laptop');
    const [created] = await Promise.all([alicePage.waitForResponse((r) => r.url().endsWith('/console/tokens/create')), alicePage.click('#create-token button[type=submit]')]);
    expect(created.status()).toBe(201);
    expect(created.headers()['cache-control']).toBe('no-store');
    const token = (await alicePage.locator('#new-token .secret').innerText()).trim();
    expect(token).toMatch(/^udns_[A-Za-z0-9_-]{43}$/);
    expect(alicePage.url()).not.toContain(token);
    expect((await apiCall(edge, token, 'GET', '/me')).status).toBe(200);
    // Shown once: the next load of the page lists it by prefix only.
    await alicePage.goto(apex());
    expect(await alicePage.content()).not.toContain(token);
    const row = alicePage.locator('#tokens-table tr', { hasText: 'laptop' });
    await Promise.all([alicePage.waitForURL(apex('/console?done=token-revoked')), row.locator('button', { hasText: 'Revoke' }).click()]);
    expect(await alicePage.locator('#tokens-table tr', { hasText: 'laptop' }).innerText()).toContain('revoked');
    expect((await apiCall(edge, token, 'GET', '/me')).status).toBe(401);
    expect(edge.logs()).not.toContain(token);
  });

  test('`udns console` prints a one-time link: it signs a phone in once; the same link again is refused', async () => {
    const cli = await runCli(['console'], { UDNS_TOKEN: aliceToken, UDNS_SERVER: edge.serverUrl });
    expect(cli.code).toBe(0);
    const link = cli.stdout.split('\n')[0]!;
    expect(link).toMatch(new RegExp(`^${apex('/console/login#')}[A-Za-z0-9_-]{43}$`));
    const code = link.split('#')[1]!;

    const phone = await open(PHONE);
    const requested: string[] = [];
    phone.on('request', (request) => requested.push(`${request.url()} ${request.postData() ?? ''} ${request.headers().referer ?? ''}`));
    await phone.goto(link);
    await phone.waitForURL(apex('/console?done=signed-in'));
    expect(await phone.locator('#account').innerText()).toBe('alice');
    // The code went to the edge in a POST body only: in no URL, no Referer, no log.
    expect(requested.filter((line) => line.split(' ')[0]!.includes(code) || line.split(' ')[2]?.includes(code))).toEqual([]);
    expect(edge.logs()).not.toContain(code);
    // Usable on a phone: nothing wider than the screen.
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    expect(await phone.locator('tr[data-name="alice-web"] .state').innerText()).toBe('online');
    await phone.screenshot({ path: path.join(SHOTS, 'member-phone.png'), fullPage: true });
    const shot = pngSize(path.join(SHOTS, 'member-phone.png'));
    expect(shot.width).toBe(PHONE.width);
    expect(shot.bytes).toBeGreaterThan(20_000);

    // The same link in another browser: refused, no session.
    const again = await open(PHONE);
    await again.goto(link);
    await again.waitForSelector('#sign-in');
    expect(await again.locator('.alert-error').innerText()).toContain('already used');
    expect(await again.context().cookies(apex())).toEqual([]);
  });

  test('forged cookies, POSTs without the CSRF token or from another origin, and framing are refused and change nothing', async () => {
    const cookie = await sessionCookie(alicePage);
    const csrf = await alicePage.locator('#add-record input[name=csrf]').inputValue();
    const add = { csrf, owner: 'evil.alice-web', type: 'A', value: '198.51.100.66' };
    const before = await recordValues();

    // A forged session cookie: the sign-in page, and no change.
    const forged = `udns_console=${randomBytes(32).toString('base64url')}`;
    const withForged = await post('/console/records/add', add, { cookie: forged });
    expect(withForged.status).toBe(401);
    expect(await withForged.text()).toContain('Your session ended');
    const forgedPage = await open();
    await forgedPage.context().addCookies([{ name: 'udns_console', value: randomBytes(32).toString('base64url'), url: apex() }]);
    expect((await forgedPage.goto(apex()))?.status()).toBe(401);
    expect(await forgedPage.locator('#sign-in').count()).toBe(1);

    // The real cookie but no CSRF token, a wrong one, or another site's Origin.
    const session = `udns_console=${cookie.value}`;
    const noCsrf = await post('/console/records/add', { owner: add.owner, type: add.type, value: add.value }, { cookie: session });
    expect(noCsrf.status).toBe(403);
    expect(await noCsrf.text()).toContain('CSRF token does not match');
    expect((await post('/console/records/add', { ...add, csrf: csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, { cookie: session })).status).toBe(403);
    expect((await post('/console/records/add', add, { cookie: session, origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('/console/tokens/create', { csrf: '', label: 'x' }, { cookie: session })).status).toBe(403);
    expect(await recordValues()).toEqual(before);
    // The same request with everything right goes through (so the refusals above were the checks).
    expect((await post('/console/records/add', add, { cookie: session, origin: apex('') })).status).toBe(303);
    expect(await recordValues()).toEqual([...before, 'evil.alice-web A 198.51.100.66']);
    expect((await post('/console/records/delete', add, { cookie: session })).status).toBe(303);

    // A reused sign-in code (a fresh one, used twice by a script).
    const issued = await apiCall(edge, aliceToken, 'POST', '/console/link');
    expect(issued.status).toBe(201);
    const code = String(issued.body.url).split('#')[1]!;
    const first = await post('/console/login/code', { code });
    expect(first.status).toBe(303);
    const reused = await post('/console/login/code', { code });
    expect(reused.status).toBe(401);
    expect(reused.headers.get('set-cookie')).toBeNull();

    // Framing: refused by header and by CSP, and Chromium shows nothing of the console in a frame.
    const answer = await fetch(apex());
    expect(answer.headers.get('x-frame-options')).toBe('DENY');
    expect(answer.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(answer.headers.get('content-security-policy')).toContain("script-src 'none'");
    const framer = await open();
    await framer.goto(`${agent.url}/echo`);
    await framer.setContent(`<iframe id="f" src="${apex()}" width="600" height="400"></iframe>`);
    expect(framer.frames()).toHaveLength(2);
    const inFrame = await framer.frames()[1]!.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    expect(inFrame).not.toContain('Sign in');
    expect(await framer.frameLocator('#f').locator('#sign-in').count()).toBe(0);
  });

  test('the operator sees every account and live tunnel, suspends alice: her agent stops with "account suspended" and cannot reconnect, her name answers offline and her records leave DNS until the suspension is lifted', async () => {
    const admin = await open();
    await signInWithToken(admin, edge.adminToken);
    expect(await admin.locator('#operator').count()).toBe(1);
    expect(await admin.locator('tr[data-account="alice"] .status').innerText()).toContain('active');
    expect(await admin.locator('#tunnels-table').innerText()).toContain('alice');
    expect(await admin.locator('#tunnels-table').innerText()).toContain('http://alice-web.localhost');
    expect(await admin.locator('#top-names-table').innerText()).toContain('alice-web');
    await admin.screenshot({ path: path.join(SHOTS, 'operator-desktop.png'), fullPage: true });
    expect(pngSize(path.join(SHOTS, 'operator-desktop.png')).bytes).toBeGreaterThan(20_000);
    // A member is no operator: the form is refused, alice stays as she is.
    const aliceCsrf = await alicePage.locator('#add-record input[name=csrf]').inputValue();
    const notOperator = await post('/console/accounts/suspend', { csrf: aliceCsrf, account: 'admin' }, { cookie: `udns_console=${(await sessionCookie(alicePage)).value}` });
    expect(notOperator.status).toBe(403);

    expect((await apiCall(edge, aliceToken, 'POST', '/names/alice-web/records', { type: 'TXT', value: 'alice was here' })).status).toBe(201);
    const txt = async (): Promise<string[]> => (await dig(edge, `alice-web.${edge.edge.config.domain}`, 'TXT')).answers.filter((line) => line.includes(' TXT '));
    expect(await txt()).toHaveLength(1);
    await Promise.all([
      admin.waitForURL(apex('/console?done=account-suspended')),
      admin.locator('tr[data-account="alice"] button', { hasText: 'Suspend' }).click(),
    ]);
    expect(await admin.locator('tr[data-account="alice"] .status').innerText()).toContain('suspended');
    const exit = await agent.cli.exited;
    expect(exit.code).not.toBe(0);
    expect(agent.cli.stderr()).toContain('account suspended');
    expect(edge.edge.tunnelCount()).toBe(0);
    // Her name answers "offline" now; her token is refused everywhere; her console session is gone.
    expect(await visitName()).toBe(502);
    expect(await txt()).toEqual([]);
    expect((await apiCall(edge, aliceToken, 'GET', '/me')).status).toBe(401);
    await expect(startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alice-web' }], { token: aliceToken })).rejects.toMatchObject({ code: 'unauthorized' });
    expect((await alicePage.goto(apex()))?.status()).toBe(401);
    expect(await alicePage.locator('#sign-in').count()).toBe(1);

    // Lifted: her token works again.
    await Promise.all([
      admin.waitForURL(apex('/console?done=account-unsuspended')),
      admin.locator('tr[data-account="alice"] button', { hasText: 'Lift suspension' }).click(),
    ]);
    expect((await apiCall(edge, aliceToken, 'GET', '/me')).status).toBe(200);
    expect(await txt()).toHaveLength(1);
    // Sign-out deletes the session: the old cookie is refused afterwards.
    const adminCookie = (await sessionCookie(admin)).value;
    await Promise.all([admin.waitForURL(apex()), admin.click('form[action="/console/logout"] button')]);
    expect(await admin.locator('#sign-in').count()).toBe(1);
    const stale = await fetch(apex(), { headers: { cookie: `udns_console=${adminCookie}` } });
    expect(stale.status).toBe(401);
  });
});
