import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { ShareChecksum, ShareListing, ShareUploadResult, encodeSharePath } from '../../protocol/index.js';
import { makeShareFixture, type ShareFixture } from '../helpers/share-fixtures.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

/** A multipart body as a browser's form would send it. */
async function multipart(fields: [string, string][], files: [string, Buffer][]): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  for (const [name, value] of fields) form.append(name, value);
  for (const [name, data] of files) form.append('file', new Blob([new Uint8Array(data)]), name);
  const request = new Request('http://form.invalid/', { method: 'POST', body: form });
  return { body: Buffer.from(await request.arrayBuffer()), type: request.headers.get('content-type')! };
}

describe('a shared folder over HTTP, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let fixture: ShareFixture;
  let uploads: ShareFixture;

  beforeAll(async () => {
    edge = await startTestEdge();
    fixture = makeShareFixture();
    uploads = makeShareFixture();
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: fixture.root, name: 'files' },
      { kind: 'share', dir: uploads.root, name: 'drop', allowUpload: true },
      { kind: 'share', dir: fixture.root, name: 'links', followSymlinks: true, showHidden: true },
    ]);
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fixture?.cleanup();
    uploads?.cleanup();
  });

  test('the agent publishes the share under its name with the folder as target', () => {
    expect(agent.routes).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'http', name: 'files', target: fs.realpathSync(fixture.root) }),
    ]));
  });

  test('the JSON listing: folders first, hidden files and escaping symlinks left out', async () => {
    const response = await visit(edge, 'files', '/', { headers: { accept: 'application/json' } });
    expect(response.status).toBe(200);
    const listing = ShareListing.parse(JSON.parse(response.body));
    expect(listing.path).toBe('/');
    expect(listing.allowUpload).toBe(false);
    expect(listing.entries.map((entry) => entry.name)).toEqual(['한글 폴더', 'a & b #1.txt', 'data.bin', 'hello.txt', 'inner-link.txt', 'page.html']);
    expect(listing.entries[0]).toMatchObject({ type: 'dir', size: 0 });
    expect(listing.entries.find((entry) => entry.name === 'data.bin')).toMatchObject({ type: 'file', size: 100_000 });
  });

  test('the listing sorts by size descending when asked', async () => {
    const response = await visit(edge, 'files', '/?sort=size&order=desc&format=json');
    const names = ShareListing.parse(JSON.parse(response.body)).entries.map((entry) => entry.name);
    expect(names[0]).toBe('한글 폴더');
    expect(names[1]).toBe('data.bin');
  });

  test('the HTML listing names every visible entry, escaped and with encoded links', async () => {
    const response = await visit(edge, 'files', '/', { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('a &amp; b #1.txt');
    expect(response.body).toContain(encodeSharePath('/한글 폴더/'));
    expect(response.body).not.toContain('.env');
  });

  test('a folder without its slash redirects to it, keeping the query', async () => {
    const response = await visit(edge, 'files', `${encodeSharePath('/한글 폴더')}?sort=size`);
    expect(response.status).toBe(301);
    expect(response.headers.location).toBe(`${encodeSharePath('/한글 폴더')}/?sort=size`);
  });

  test('a Korean file name with a space round-trips in the URL and in Content-Disposition', async () => {
    const response = await visit(edge, 'files', encodeSharePath('/한글 폴더/보고서 1.txt'));
    expect(response.status).toBe(200);
    expect(response.body).toBe('한국어 내용\n');
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.headers['content-disposition']).toBe(`inline; filename="??? 1.txt"; filename*=UTF-8''${encodeURIComponent('보고서 1.txt')}`);
    const download = await visit(edge, 'files', `${encodeSharePath('/한글 폴더/보고서 1.txt')}?download`);
    expect(download.headers['content-disposition']).toMatch(/^attachment; /);
  });

  test('HEAD gives the headers and no body', async () => {
    const response = await visit(edge, 'files', '/data.bin', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe('100000');
    expect(response.headers['accept-ranges']).toBe('bytes');
    expect(response.body).toBe('');
  });

  test('Range: a single range is 206 with Content-Range; past the end is 416', async () => {
    const full = fs.readFileSync(path.join(fixture.root, 'data.bin'));
    const part = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: '/data.bin', agent: false, headers: { host: hostFor(edge, 'files'), range: 'bytes=1000-1999' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 1000-1999/100000');
    expect(part.body.equals(full.subarray(1000, 2000))).toBe(true);
    const beyond = await visit(edge, 'files', '/data.bin', { headers: { range: 'bytes=200000-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */100000');
  });

  test('ETag and Last-Modified: If-None-Match and If-Modified-Since give 304; a stale If-Range gives the whole file', async () => {
    const first = await visit(edge, 'files', '/hello.txt');
    const etag = first.headers.etag!;
    expect(etag).toBeTruthy();
    expect((await visit(edge, 'files', '/hello.txt', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await visit(edge, 'files', '/hello.txt', { headers: { 'if-modified-since': first.headers['last-modified']! } })).status).toBe(304);
    const matching = await visit(edge, 'files', '/hello.txt', { headers: { range: 'bytes=0-4', 'if-range': etag } });
    expect(matching.status).toBe(206);
    expect(matching.body).toBe('hello');
    const stale = await visit(edge, 'files', '/hello.txt', { headers: { range: 'bytes=0-4', 'if-range': '"stale"' } });
    expect(stale.status).toBe(200);
    expect(stale.body).toBe('hello from the share\n');
  });

  test('an HTML file is served sandboxed, so it cannot act as the share', async () => {
    const response = await visit(edge, 'files', '/page.html');
    expect(response.headers['content-security-policy']).toBe('sandbox');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  test('?checksum=sha256 gives the digest of the file', async () => {
    const response = await visit(edge, 'files', '/data.bin?checksum=sha256');
    const checksum = ShareChecksum.parse(JSON.parse(response.body));
    expect(checksum.digest).toBe(createHash('sha256').update(fs.readFileSync(path.join(fixture.root, 'data.bin'))).digest('hex'));
    expect(checksum.size).toBe(100_000);
    expect(checksum.etag).toBe((await visit(edge, 'files', '/data.bin', { method: 'HEAD' })).headers.etag);
    expect((await visit(edge, 'files', '/data.bin?checksum=md5')).status).toBe(400);
  });

  test('?zip streams the folder as a valid ZIP without hidden files or escaping links', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-zip-'));
    const zipFile = path.join(out, 'share.zip');
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: '/?zip', agent: false, headers: { host: hostFor(edge, 'files') } }, (res) => {
        expect(res.headers['content-type']).toBe('application/zip');
        expect(res.headers['content-disposition']).toBe('attachment; filename="files.zip"');
        res.pipe(fs.createWriteStream(zipFile)).on('finish', resolve).on('error', reject);
      }).on('error', reject);
    });
    execFileSync('unzip', ['-tq', zipFile]);
    execFileSync('unzip', ['-q', zipFile, '-d', path.join(out, 'x')]);
    expect(fs.readFileSync(path.join(out, 'x', '한글 폴더', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
    expect(fs.readFileSync(path.join(out, 'x', 'data.bin')).equals(fs.readFileSync(path.join(fixture.root, 'data.bin')))).toBe(true);
    expect(fs.existsSync(path.join(out, 'x', '.env'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'x', 'escape.txt'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'x', 'escape'))).toBe(false);
    fs.rmSync(out, { recursive: true });
  });

  test('symlinks leaving the share and hidden files are 404 by default', async () => {
    for (const target of ['/escape.txt', '/escape/secret.txt', '/.env', '/.git/config']) {
      const response = await visit(edge, 'files', target);
      expect(response.status, target).toBe(404);
      expect(response.body).not.toContain('secret');
    }
    expect((await visit(edge, 'files', '/inner-link.txt')).body).toBe('hello from the share\n');
  });

  test('--follow-symlinks and --show-hidden open them', async () => {
    expect((await visit(edge, 'links', '/escape.txt')).body).toBe('the outside secret\n');
    expect((await visit(edge, 'links', '/.env')).status).toBe(200);
  });

  test('a read-only share refuses uploads and writes nothing', async () => {
    const form = await multipart([], [['new.txt', Buffer.from('x')]]);
    const post = await visit(edge, 'files', '/', { method: 'POST', body: form.body, headers: { 'content-type': form.type } });
    expect(post.status).toBe(403);
    expect((await visit(edge, 'files', '/new.txt', { method: 'PUT', body: 'x' })).status).toBe(403);
    expect((await visit(edge, 'files', '/hello.txt', { method: 'DELETE' })).status).toBe(405);
    expect(fs.existsSync(path.join(fixture.root, 'new.txt'))).toBe(false);
  });

  test('uploads land under their name, a taken name gets a new one, overwrite=1 replaces', async () => {
    const first = await multipart([], [['새 파일.txt', Buffer.from('one')], ['hello.txt', Buffer.from('second hello')]]);
    const response = await visit(edge, 'drop', encodeSharePath('/한글 폴더/'), { method: 'POST', body: first.body, headers: { 'content-type': first.type, accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(ShareUploadResult.parse(JSON.parse(response.body)).saved).toEqual([
      { sent: '새 파일.txt', name: '새 파일.txt', size: 3 },
      { sent: 'hello.txt', name: 'hello.txt', size: 12 },
    ]);
    const again = await multipart([], [['새 파일.txt', Buffer.from('two')]]);
    const renamed = await visit(edge, 'drop', encodeSharePath('/한글 폴더/'), { method: 'POST', body: again.body, headers: { 'content-type': again.type, accept: 'application/json' } });
    expect(JSON.parse(renamed.body).saved[0].name).toBe('새 파일 (1).txt');
    expect(fs.readFileSync(path.join(uploads.root, '한글 폴더', '새 파일.txt'), 'utf8')).toBe('one');
    const replace = await multipart([['overwrite', '1']], [['새 파일.txt', Buffer.from('three')]]);
    await visit(edge, 'drop', encodeSharePath('/한글 폴더/'), { method: 'POST', body: replace.body, headers: { 'content-type': replace.type, accept: 'application/json' } });
    expect(fs.readFileSync(path.join(uploads.root, '한글 폴더', '새 파일.txt'), 'utf8')).toBe('three');
    expect(fs.readdirSync(path.join(uploads.root, '한글 폴더')).filter((name) => name.startsWith('.udns-upload-'))).toEqual([]);
  });

  test('a form upload without JavaScript is answered with 303 back to the listing', async () => {
    const form = await multipart([], [['form.txt', Buffer.from('from a form')]]);
    const response = await visit(edge, 'drop', '/', { method: 'POST', body: form.body, headers: { 'content-type': form.type, accept: 'text/html' } });
    expect(response.status).toBe(303);
    expect(response.headers.location).toBe('/?uploaded=1');
  });

  test('upload names that could escape or hide are refused, and nothing is written', async () => {
    const form = await multipart([], [['../evil.txt', Buffer.from('x')], ['.hidden', Buffer.from('x')], ['a\\b.txt', Buffer.from('x')]]);
    const response = await visit(edge, 'drop', '/', { method: 'POST', body: form.body, headers: { 'content-type': form.type, accept: 'application/json' } });
    expect(response.status).toBe(400);
    expect(fs.existsSync(path.join(uploads.outside, 'evil.txt'))).toBe(false);
    expect(fs.existsSync(path.join(uploads.root, '.hidden'))).toBe(false);
    expect(fs.existsSync(path.join(uploads.root, 'a\\b.txt'))).toBe(false);
  });

  test('PUT writes a file; a PUT cut off midway leaves nothing behind', async () => {
    const put = await visit(edge, 'drop', '/put.txt', { method: 'PUT', body: 'put body' });
    expect(put.status).toBe(201);
    expect(fs.readFileSync(path.join(uploads.root, 'put.txt'), 'utf8')).toBe('put body');
    expect((await visit(edge, 'drop', '/put.txt', { method: 'PUT', body: 'replaced' })).status).toBe(204);
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: edge.edge.httpPort, path: '/cut.bin', method: 'PUT', agent: false, headers: { host: hostFor(edge, 'drop'), 'content-length': 10_000_000 } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1_000_000, 1), () => setTimeout(() => { req.destroy(); resolve(); }, 300));
    });
    // The agent notices the break and removes its temp file: wait for that, then look.
    for (let i = 0; i < 50 && fs.readdirSync(uploads.root).some((name) => name.startsWith('.udns-upload-')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.readdirSync(uploads.root).filter((name) => name === 'cut.bin' || name.startsWith('.udns-upload-'))).toEqual([]);
  });
});

describe('password-protected and expiring shares', () => {
  let edge: TestEdge;
  let agent: Agent;
  let fixture: ShareFixture;

  beforeAll(async () => {
    edge = await startTestEdge();
    fixture = makeShareFixture();
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: fixture.root, name: 'locked', password: 'open sesame' },
      { kind: 'share', dir: fixture.root, name: 'brief', expires: '2s' },
    ]);
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fixture?.cleanup();
  });

  const basic = (password: string): string => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

  test('no password: 401 with a Basic challenge for programs, the login form for browsers', async () => {
    const program = await visit(edge, 'locked', '/hello.txt');
    expect(program.status).toBe(401);
    expect(program.headers['www-authenticate']).toBe('Basic realm="udns share", charset="UTF-8"');
    expect(program.body).not.toContain('hello from the share');
    const browser = await visit(edge, 'locked', '/hello.txt', { headers: { accept: 'text/html' } });
    expect(browser.status).toBe(303);
    expect(browser.headers.location).toBe('/.udns/login?next=%2Fhello.txt');
    const form = await visit(edge, 'locked', '/.udns/login?next=%2Fhello.txt', { headers: { accept: 'text/html' } });
    expect(form.status).toBe(200);
    expect(form.body).toContain('type="password"');
  });

  test('HTTP Basic with the right password opens the share', async () => {
    const response = await visit(edge, 'locked', '/hello.txt', { headers: { authorization: basic('open sesame') } });
    expect(response.status).toBe(200);
    expect(response.body).toBe('hello from the share\n');
  });

  test('the login form sets a signed HttpOnly SameSite cookie that opens the share', async () => {
    const login = await visit(edge, 'locked', '/.udns/login', {
      method: 'POST', body: 'password=open+sesame&next=%2Fhello.txt', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/hello.txt');
    const cookie = login.headers['set-cookie']![0]!;
    expect(cookie).toMatch(/^udns_share=\d+\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    const value = cookie.split(';')[0]!;
    expect((await visit(edge, 'locked', '/hello.txt', { headers: { cookie: value } })).status).toBe(200);
    const forged = value.replace(/\.(.)/, (_, c: string) => `.${c === 'A' ? 'B' : 'A'}`);
    expect((await visit(edge, 'locked', '/hello.txt', { headers: { cookie: forged } })).status).toBe(401);
  });

  test('a login never redirects to another site', async () => {
    const login = await visit(edge, 'locked', '/.udns/login', {
      method: 'POST', body: 'password=open+sesame&next=%2F%2Fevil.example%2F', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(login.headers.location).toBe('/');
  });

  test('wrong passwords are rate limited: the sixth try within a minute gets 429, even a right one', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await visit(edge, 'locked', '/hello.txt', { headers: { authorization: basic(`guess ${i}`) } })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const right = await visit(edge, 'locked', '/hello.txt', { headers: { authorization: basic('open sesame') } });
    expect(right.status).toBe(429);
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    const form = await visit(edge, 'locked', '/.udns/login', { method: 'POST', body: 'password=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(429);
  });

  test('--expires: the share answers until its time, then 410 Gone', async () => {
    expect((await visit(edge, 'brief', '/hello.txt')).status).toBe(200);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await visit(edge, 'brief', '/hello.txt')).status;
    }
    expect(status).toBe(410);
  });
});

describe('share fixes found in review, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let fixture: ShareFixture;

  beforeAll(async () => {
    edge = await startTestEdge();
    fixture = makeShareFixture();
    fs.writeFileSync(path.join(fixture.root, 'schema.xsd'), '<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>');
    fs.writeFileSync(path.join(fixture.root, '100% done.txt'), 'percent\n');
    fs.symlinkSync(path.join(fixture.root, '.git'), path.join(fixture.root, 'docs'));
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: fixture.root, name: 'rw', allowUpload: true },
      { kind: 'share', dir: fixture.root, name: 'follow', allowUpload: true, followSymlinks: true },
      { kind: 'share', dir: fixture.root, name: 'guarded', password: 'pw' },
    ]);
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fixture?.cleanup();
  });

  const tempFiles = (): string[] => fs.readdirSync(fixture.root).filter((name) => name.startsWith('.udns-upload-'));
  const waitForNoTempFiles = async (): Promise<string[]> => {
    for (let i = 0; i < 50 && tempFiles().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    return tempFiles();
  };

  test('a broken multipart body with a refused part is answered and the agent lives on', async () => {
    const boundary = 'XyZ';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=".hidden"\r\n\r\nabc`;
    const response = await visit(edge, 'rw', '/', { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(response.status).toBe(400);
    expect((await visit(edge, 'rw', '/hello.txt')).status).toBe(200);
    expect(await waitForNoTempFiles()).toEqual([]);
  });

  test('an upload the visitor abandons midway leaves no temp file', async () => {
    const boundary = 'AbC';
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: edge.edge.httpPort, path: '/', method: 'POST', agent: false, headers: {
        host: hostFor(edge, 'rw'), 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 50_000_000,
      } });
      req.on('error', () => resolve());
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`);
      req.write(Buffer.alloc(2_000_000, 7), () => setTimeout(() => { req.destroy(); resolve(); }, 300));
    });
    expect(await waitForNoTempFiles()).toEqual([]);
    expect(fs.existsSync(path.join(fixture.root, 'big.bin'))).toBe(false);
  });

  test('a PUT that cannot be written is answered, not left hanging', async () => {
    const response = await visit(edge, 'rw', `/${'n'.repeat(300)}`, { method: 'PUT', body: 'x' });
    expect(response.status).toBe(500);
    expect(response.body).toContain('ENAMETOOLONG');
  });

  test('uploads and logins posted from another site are refused', async () => {
    const form = await multipart([], [['csrf.txt', Buffer.from('x')]]);
    for (const origin of ['http://evil.example', 'null']) {
      const post = await visit(edge, 'rw', '/', { method: 'POST', body: form.body, headers: { 'content-type': form.type, origin } });
      expect(post.status, origin).toBe(403);
    }
    const same = await visit(edge, 'rw', '/', { method: 'POST', body: form.body, headers: { 'content-type': form.type, origin: `http://${hostFor(edge, 'rw')}`, accept: 'application/json' } });
    expect(same.status).toBe(200);
    const login = await visit(edge, 'guarded', '/.udns/login', { method: 'POST', body: 'password=pw', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' } });
    expect(login.status).toBe(403);
  });

  test('any type that could run script is sandboxed; images, media, PDF and text are not', async () => {
    expect((await visit(edge, 'rw', '/schema.xsd')).headers['content-security-policy']).toBe('sandbox');
    expect((await visit(edge, 'rw', '/hello.txt')).headers['content-security-policy']).toBeUndefined();
  });

  test('a file with % in its name is served', async () => {
    const response = await visit(edge, 'rw', encodeSharePath('/100% done.txt'));
    expect(response.status).toBe(200);
    expect(response.body).toBe('percent\n');
  });

  test('with --follow-symlinks, reads follow a link out but uploads never write through it', async () => {
    const form = await multipart([], [['planted.txt', Buffer.from('x')]]);
    const response = await visit(edge, 'follow', '/escape/', { method: 'POST', body: form.body, headers: { 'content-type': form.type } });
    expect(response.status).toBe(404);
    expect(fs.existsSync(path.join(fixture.outside, 'planted.txt'))).toBe(false);
  });

  test('a PUT onto a link is refused instead of landing under another name', async () => {
    const response = await visit(edge, 'rw', '/inner-link.txt', { method: 'PUT', body: 'new' });
    expect(response.status).toBe(409);
    expect(fs.readFileSync(path.join(fixture.root, 'hello.txt'), 'utf8')).toBe('hello from the share\n');
    expect(fs.readdirSync(fixture.root).filter((name) => name.startsWith('inner-link ('))).toEqual([]);
  });

  test('a login never sends the visitor to another site, even through a tab in the path', async () => {
    for (const next of ['/\t/evil.example', '/\\evil.example', '//evil.example', 'https://evil.example/']) {
      const login = await visit(edge, 'guarded', '/.udns/login', {
        method: 'POST', body: `password=pw&next=${encodeURIComponent(next)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(login.headers.location, JSON.stringify(next)).toBe('/');
    }
  });

  test('a visible link to a hidden folder is as hidden as the folder', async () => {
    expect((await visit(edge, 'rw', '/docs/config')).status).toBe(404);
    const listing = ShareListing.parse(JSON.parse((await visit(edge, 'rw', '/?format=json')).body));
    expect(listing.entries.map((entry) => entry.name)).not.toContain('docs');
  });

  test('a file path with a trailing slash is 404, and HEAD ?zip names the ZIP', async () => {
    expect((await visit(edge, 'rw', '/hello.txt/')).status).toBe(404);
    const head = await visit(edge, 'rw', '/?zip', { method: 'HEAD' });
    expect(head.headers['content-disposition']).toBe('attachment; filename="rw.zip"');
  });
});
