import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { makeShareFixture, snapshotTree, type ShareFixture } from '../helpers/share-fixtures.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange, visit, type VisitorResponse } from '../helpers/visitor.js';

/*
 * `<name>.localhost` does not resolve on every machine (glibc without nss-myhostname does not
 * know it), so litmus and rclone use the edge as their HTTP proxy: they send absolute-form
 * requests (`PROPFIND http://dav.localhost:port/ HTTP/1.1`), which the edge routes by the
 * target's host and the share reduces to the path (RFC 9112 §3.2.2).
 */

/** Runs a program without blocking the event loop (the edge and agent run in this process). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024, timeout: 50_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every `<href>` of a multistatus body, as sent (percent-encoded). */
function hrefs(body: string): string[] {
  return [...body.matchAll(/<(?:[A-Za-z]+:)?href>([^<]*)<\/(?:[A-Za-z]+:)?href>/g)].map((match) => match[1]!);
}

/** The paths of the hrefs, decoded: what a client shows. */
function hrefPaths(body: string): string[] {
  return hrefs(body).map((href) => decodeURIComponent(new URL(href, 'http://x').pathname));
}

/** litmus' verdict per group, and the names of the tests that failed. */
function litmusSummary(output: string): { groups: Record<string, { run: number; passed: number }>; failed: string[] } {
  const groups: Record<string, { run: number; passed: number }> = {};
  for (const match of output.matchAll(/summary for `(\w+)': of (\d+) tests run: (\d+) passed/g)) {
    groups[match[1]!] = { run: Number(match[2]), passed: Number(match[3]) };
  }
  const failed = [...output.matchAll(/^\s*(\d+)\.\s+(\w+)\.*\s*FAIL/gm)].map((match) => `${match[1]}. ${match[2]}`);
  return { groups, failed };
}

describe('WebDAV on a shared folder, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let fixture: ShareFixture;
  let writable: ShareFixture;
  let scratch: string;
  let litmusDir: string;
  let syncDir: string;
  let proxy: string;

  const propfind = (name: string, target: string, depth: string, body?: string): Promise<VisitorResponse> =>
    visit(edge, name, target, { method: 'PROPFIND', headers: { depth, 'content-type': 'application/xml' }, body: body ?? '' });
  const urlOf = (name: string, target: string): string => `http://${hostFor(edge, name)}${target}`;

  beforeAll(async () => {
    edge = await startTestEdge();
    proxy = `http://127.0.0.1:${edge.edge.httpPort}`;
    fixture = makeShareFixture();
    writable = makeShareFixture();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-dav-'));
    litmusDir = path.join(scratch, 'litmus');
    syncDir = path.join(scratch, 'sync');
    fs.mkdirSync(litmusDir);
    fs.mkdirSync(syncDir);
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: fixture.root, name: 'davro', webdav: true },
      { kind: 'share', dir: writable.root, name: 'davrw', webdav: true, allowUpload: true },
      { kind: 'share', dir: litmusDir, name: 'litmus', webdav: true, allowUpload: true },
      { kind: 'share', dir: syncDir, name: 'sync', webdav: true, allowUpload: true, password: 'pw' },
    ]);
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fixture?.cleanup();
    writable?.cleanup();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('OPTIONS announces WebDAV class 1 and 2; a read-only share lists no write method', async () => {
    const response = await visit(edge, 'davro', '/', { method: 'OPTIONS' });
    expect(response.status).toBe(200);
    expect(response.headers.dav).toBe('1, 2, 3');
    const allowed = String(response.headers.allow).split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['OPTIONS', 'GET', 'HEAD', 'PROPFIND', 'LOCK', 'UNLOCK']));
    for (const method of ['PUT', 'POST', 'DELETE', 'COPY', 'MOVE', 'MKCOL', 'PROPPATCH']) expect(allowed).not.toContain(method);
    const writableAllow = String((await visit(edge, 'davrw', '/', { method: 'OPTIONS' })).headers.allow);
    expect(writableAllow).toContain('MKCOL');
  });

  test('a request in absolute form (sent to the edge as a proxy) is served by its target host and path', async () => {
    const answer = await rawExchange(edge, `GET ${urlOf('davro', '/hello.txt')} HTTP/1.1\r\nHost: wrong.example\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('hello from the share');
  });

  test('litmus basic, copymove and props all pass against a writable share', async () => {
    // litmus writes debug.log and child.log into its working directory. Its test programs
    // take only the long form of the proxy option. props includes ten properties of one local
    // name in ten namespaces, which nephele alone merged (webdav/xml-namespaces.ts).
    const result = await run('litmus', ['-k', `--proxy=${proxy}`, urlOf('litmus', '/')], { TESTS: 'basic copymove props' }, scratch);
    const summary = litmusSummary(result.stdout);
    expect(summary.failed, result.stdout).toEqual([]);
    expect(summary.groups).toEqual({
      basic: { run: 16, passed: 16 },
      copymove: { run: 13, passed: 13 },
      props: { run: 30, passed: 30 },
    });
  });

  test('PROPFIND Depth 1 lists what the listing shows, with hrefs percent-encoded', async () => {
    const response = await propfind('davro', '/', '1');
    expect(response.status).toBe(207);
    const names = hrefPaths(response.body);
    expect(names.sort()).toEqual(['/', '/a & b #1.txt', '/data.bin', '/hello.txt', '/inner-link.txt', '/page.html', '/한글 폴더/'].sort());
    const sent = hrefs(response.body).map((href) => new URL(href).pathname);
    expect(sent).toContain('/%ED%95%9C%EA%B8%80%20%ED%8F%B4%EB%8D%94/');
    expect(sent).toContain('/a%20%26%20b%20%231.txt');
    for (const hidden of ['.env', '.git', 'escape', 'secret', 'nephelemeta']) expect(response.body).not.toContain(hidden);

    const inner = await propfind('davro', '/%ED%95%9C%EA%B8%80%20%ED%8F%B4%EB%8D%94/', '1');
    expect(inner.status).toBe(207);
    expect(hrefPaths(inner.body).sort()).toEqual(['/한글 폴더/', '/한글 폴더/sub/', '/한글 폴더/보고서 1.txt']);
  });

  test('PROPFIND cannot reach what the listing hides: Depth infinity is refused, escaping links and dotfiles are 404', async () => {
    const infinite = await propfind('davro', '/', 'infinity');
    expect(infinite.status).toBe(403);
    expect(infinite.body).toContain('propfind-finite-depth');
    expect(infinite.body).not.toContain('secret');
    const noDepth = await visit(edge, 'davro', '/', { method: 'PROPFIND' });
    expect(noDepth.status).toBe(403);
    for (const target of ['/escape/', '/escape', '/escape.txt', '/escape/secret.txt', '/.env', '/.git/']) {
      const response = await propfind('davro', target, '1');
      expect(response.status, target).toBe(404);
      expect(response.body).not.toContain('secret.txt');
    }
  });

  test('a read-only WebDAV share refuses every change and the folder stays as it was', async () => {
    const before = snapshotTree(fixture.root);
    const destination = { destination: urlOf('davro', '/copied.txt') };
    const attempts: [string, string, Record<string, string>, string?][] = [
      ['PUT', '/new.txt', {}, 'data'],
      ['MKCOL', '/newdir/', {}],
      ['DELETE', '/hello.txt', {}],
      ['COPY', '/hello.txt', destination],
      ['MOVE', '/hello.txt', destination],
      ['PROPPATCH', '/hello.txt', { 'content-type': 'application/xml' }, '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:x xmlns:Z="urn:z">1</Z:x></D:prop></D:set></D:propertyupdate>'],
      ['LOCK', '/missing.txt', { 'content-type': 'application/xml' }, lockBody()],
    ];
    for (const [method, target, headers, body] of attempts) {
      const response = await visit(edge, 'davro', target, { method, headers, body });
      expect(response.status, `${method} ${target}`).toBe(403);
      expect(response.headers['content-type'], method).toMatch(/^text\/plain/);
      expect(response.body, method).toMatch(/read-only/);
    }
    // Clients lock before they read: an existing file may be locked (in memory) and unlocked.
    const lock = await visit(edge, 'davro', '/hello.txt', { method: 'LOCK', headers: { 'content-type': 'application/xml', timeout: 'Second-60' }, body: lockBody() });
    expect(lock.status).toBe(200);
    const token = String(lock.headers['lock-token']);
    expect(token).toMatch(/^<urn:uuid:/);
    expect((await visit(edge, 'davro', '/hello.txt', { method: 'UNLOCK', headers: { 'lock-token': token } })).status).toBe(204);
    expect(snapshotTree(fixture.root)).toBe(before);
  });

  test('COPY and MOVE refuse a Destination outside the share, in any encoding, and write nothing', async () => {
    const outsideBefore = snapshotTree(writable.outside);
    const rootBefore = snapshotTree(writable.root);
    const host = hostFor(edge, 'davrw');
    const destinations: [string, number][] = [
      [`http://${host}/../outside/stolen.txt`, 400],
      [`http://${host}/%2e%2e/outside/stolen.txt`, 400],
      [`http://${host}/%2E%2E/%2E%2E/stolen.txt`, 400],
      [`http://${host}/%252e%252e/stolen.txt`, 400],
      [`http://${host}/..%2fstolen.txt`, 400],
      [`http://${host}/..%5cstolen.txt`, 400],
      [`http://${host}/..\\stolen.txt`, 400],
      [`http://${host}/a\\b.txt`, 400],
      [`http://${host}/%c0%ae%c0%ae/stolen.txt`, 400],
      [`http://${host}/stolen%00.txt`, 400],
      [`http://${host}//tmp/stolen.txt`, 400],
      [`http://${host}/./stolen.txt`, 400],
      ['/../outside/stolen.txt', 400],
      ['../outside/stolen.txt', 400],
      [`file://${writable.outside}/stolen.txt`, 400],
      [`http://127.0.0.1:${edge.edge.httpPort}/stolen.txt`, 502],
      [`http://elsewhere.example/outside/stolen.txt`, 502],
      [`http://${host}/escape/stolen.txt`, 403],
      [`http://${host}/.stolen`, 403],
      [`http://${host}/.git/stolen.txt`, 403],
      [`http://${host}/missing-folder/stolen.txt`, 409],
      [`http://${host}/escape.txt`, 403],
      [`http://${host}/`, 403],
    ];
    for (const method of ['COPY', 'MOVE']) {
      for (const [destination, status] of destinations) {
        const response = await visit(edge, 'davrw', '/hello.txt', { method, headers: { destination } });
        expect(response.status, `${method} to ${destination}`).toBe(status);
      }
      // The source is held to the same rules: no copying out of a link that leaves the share.
      const fromEscape = await visit(edge, 'davrw', '/escape/secret.txt', { method, headers: { destination: `http://${host}/leaked.txt` } });
      expect(fromEscape.status).toBe(404);
    }
    expect(snapshotTree(writable.outside)).toBe(outsideBefore);
    expect(snapshotTree(writable.root)).toBe(rootBefore);
  });

  test('Overwrite: F onto an existing file is 412; a copy with a Korean name works and keeps the hrefs encoded', async () => {
    const host = hostFor(edge, 'davrw');
    const refused = await visit(edge, 'davrw', '/hello.txt', { method: 'COPY', headers: { destination: `http://${host}/data.bin`, overwrite: 'F' } });
    expect(refused.status).toBe(412);
    expect(fs.statSync(path.join(writable.root, 'data.bin')).size).toBe(100_000);
    const korean = encodeURI('/한글 폴더/사본 1.txt');
    const copied = await visit(edge, 'davrw', '/hello.txt', { method: 'COPY', headers: { destination: `http://${host}${korean}` } });
    expect(copied.status).toBe(201);
    expect(fs.readFileSync(path.join(writable.root, '한글 폴더', '사본 1.txt'), 'utf8')).toBe('hello from the share\n');
    const listing = await propfind('davrw', encodeURI('/한글 폴더/'), '1');
    expect(hrefs(listing.body).map((href) => new URL(href).pathname)).toContain('/%ED%95%9C%EA%B8%80%20%ED%8F%B4%EB%8D%94/%EC%82%AC%EB%B3%B8%201.txt');
  });

  test('dead properties and locks live in memory: nothing is written beside the files', async () => {
    const before = fs.readdirSync(writable.root).sort();
    const set = '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>';
    expect((await visit(edge, 'davrw', '/hello.txt', { method: 'PROPPATCH', headers: { 'content-type': 'application/xml' }, body: set })).status).toBe(207);
    const lock = await visit(edge, 'davrw', '/hello.txt', { method: 'LOCK', headers: { 'content-type': 'application/xml' }, body: lockBody() });
    expect(lock.status).toBe(200);
    const get = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop><Z:Win32FileAttributes/><D:lockdiscovery/></D:prop></D:propfind>';
    const found = await propfind('davrw', '/hello.txt', '0', get);
    expect(found.body).toMatch(/Win32FileAttributes[^>]*>00000020</);
    expect(found.body).toContain(String(lock.headers['lock-token']).slice(1, -1));
    expect(fs.readdirSync(writable.root).sort()).toEqual(before);
    // A locked file is not deleted without its token.
    expect((await visit(edge, 'davrw', '/hello.txt', { method: 'DELETE' })).status).toBe(423);
    expect((await visit(edge, 'davrw', '/hello.txt', { method: 'UNLOCK', headers: { 'lock-token': String(lock.headers['lock-token']) } })).status).toBe(204);
  });

  test('DELETE of a folder removes a symlink inside it, never the folder the link points to', async () => {
    const box = path.join(writable.root, 'box');
    fs.mkdirSync(box);
    fs.writeFileSync(path.join(box, 'note.txt'), 'note\n');
    fs.symlinkSync(path.join(writable.root, '한글 폴더'), path.join(box, 'link'));
    const response = await visit(edge, 'davrw', '/box/', { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(fs.existsSync(box)).toBe(false);
    expect(fs.readFileSync(path.join(writable.root, '한글 폴더', '보고서 1.txt'), 'utf8')).toBe('한국어 내용\n');
    expect(fs.readFileSync(path.join(writable.root, '한글 폴더', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
  });

  test('DELETE keeps what visitors cannot see and says so', async () => {
    const folder = path.join(writable.root, 'with-hidden');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'seen.txt'), 'seen\n');
    fs.writeFileSync(path.join(folder, '.unseen'), 'unseen\n');
    const response = await visit(edge, 'davrw', '/with-hidden/', { method: 'DELETE' });
    expect(response.status).toBe(403);
    expect(response.body).toContain('hidden from visitors');
    expect(fs.existsSync(path.join(folder, 'seen.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(folder, '.unseen'), 'utf8')).toBe('unseen\n');
  });

  test('bad input is answered, never fatal: malformed XML 400, compressed body 415, oversized body 413 or cut', async () => {
    expect((await propfind('davrw', '/', '0', '<D:propfind xmlns:D="DAV:"><D:prop>')).status).toBe(400);
    const gzip = await visit(edge, 'davrw', '/', { method: 'PROPFIND', headers: { depth: '0', 'content-encoding': 'gzip', 'content-type': 'application/xml' }, body: 'not gzip at all' });
    expect(gzip.status).toBe(415);
    const huge = await visit(edge, 'davrw', '/', { method: 'PROPFIND', headers: { depth: '0', 'content-length': String(64 * 1024 * 1024) } });
    expect(huge.status).toBe(413);
    // Chunked, so no length to refuse up front: the connection is cut once the limit is passed.
    const chunked = await visit(edge, 'davrw', '/', { method: 'PROPFIND', headers: { depth: '0', 'transfer-encoding': 'chunked', 'content-type': 'application/xml' }, body: Buffer.alloc(3 * 1024 * 1024, 'a') })
      .then((response) => response.status, (error: Error) => error.message);
    expect(chunked).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    expect((await propfind('davrw', '/', '0')).status).toBe(207);
  });

  test('a flood of shared LOCKs on a read-only share is refused past the limits; memory stays bounded and PROPFIND still answers', async () => {
    // One connection, kept alive: what an attacker would use, and steadier memory to measure.
    const connection = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const lock = (target: string, owner: string) => visit(edge, 'davro', target, {
      method: 'LOCK', agent: connection, headers: { 'content-type': 'application/xml', timeout: 'Infinite' }, body: lockBody('shared', owner),
    });
    const rssBefore = process.memoryUsage().rss;
    try {
      // Owners just under the 4 KiB limit: sixteen shared locks are kept on the file, then 423.
      const nearLimit = `<D:href>mailto:${'a'.repeat(3900)}@example.com</D:href>`;
      const tokens: string[] = [];
      const statuses: number[] = [];
      let refused: VisitorResponse | undefined;
      for (let attempt = 0; attempt < 60; attempt += 1) {
        const response = await lock('/page.html', nearLimit);
        statuses.push(response.status);
        if (response.status === 200) tokens.push(String(response.headers['lock-token']));
        else refused = response;
      }
      expect(statuses.slice(0, 16)).toEqual(Array(16).fill(200));
      expect(new Set(statuses.slice(16))).toEqual(new Set([423]));
      expect(refused?.headers['content-type']).toMatch(/^text\/plain/);
      expect(refused?.body).toMatch(/already has 16 locks/);

      // Owners past the limit are refused whole, before anything is kept.
      const large = `<D:href>mailto:${'b'.repeat(60 * 1024)}@example.com</D:href>`;
      for (let attempt = 0; attempt < 60; attempt += 1) {
        const response = await lock('/data.bin', large);
        expect(response.status).toBe(403);
        expect(response.body).toMatch(/lock owner is too large/);
      }
      // A body past the XML limit is refused before nephele reads it.
      expect((await lock('/data.bin', 'c'.repeat(64 * 1024))).status).toBe(413);

      // Before the limits, 120 LOCKs with 1 MiB owners kept 112 MiB and took seconds each.
      const growth = process.memoryUsage().rss - rssBefore;
      expect(growth).toBeLessThan(64 * 1024 * 1024);

      const found = await propfind('davro', '/page.html', '0', '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>');
      expect(found.status).toBe(207);
      expect(found.body.match(/<(?:[A-Za-z]+:)?activelock>/g)).toHaveLength(16);
      // `Timeout: Infinite` is cut to an hour.
      for (const [, seconds] of found.body.matchAll(/Second-(\d+)/g)) expect(Number(seconds)).toBeLessThanOrEqual(3600);
      expect((await propfind('davro', '/', '1')).status).toBe(207);
      for (const token of tokens) {
        expect((await visit(edge, 'davro', '/page.html', { method: 'UNLOCK', agent: connection, headers: { 'lock-token': token } })).status).toBe(204);
      }
      expect((await lock('/page.html', 'test')).status).toBe(200);
    } finally {
      connection.destroy();
    }
  }, 180_000);

  test('LOCK of a folder with Depth infinity is refused; Depth 0 locks the folder alone', async () => {
    const folder = encodeURI('/한글 폴더/');
    for (const depth of [{}, { depth: 'infinity' }] as Record<string, string>[]) {
      const deep = await visit(edge, 'davro', folder, { method: 'LOCK', headers: { 'content-type': 'application/xml', ...depth }, body: lockBody() });
      expect(deep.status).toBe(403);
      expect(deep.headers['content-type']).toMatch(/^text\/plain/);
      expect(deep.body).toMatch(/Depth: infinity is not supported/);
    }
    const shallow = await visit(edge, 'davro', folder, { method: 'LOCK', headers: { 'content-type': 'application/xml', depth: '0' }, body: lockBody() });
    expect(shallow.status).toBe(200);
    expect((await visit(edge, 'davro', folder, { method: 'UNLOCK', headers: { 'lock-token': String(shallow.headers['lock-token']) } })).status).toBe(204);
  });

  test('PROPPATCH keeps at most 64 properties of 4 KiB each on a resource; larger bodies are 413', async () => {
    const target = '/data.bin';
    const proppatch = (body: string) => visit(edge, 'davrw', target, { method: 'PROPPATCH', headers: { 'content-type': 'application/xml' }, body });
    const tooMany = await proppatch(propertyUpdate(Array.from({ length: 65 }, (_, index) => `value ${index}`)));
    expect(tooMany.status).toBe(207);
    expect(new Set(statusesOf(tooMany.body))).toEqual(new Set([507]));
    expect(tooMany.body).toContain('already has 64 properties');
    const tooLarge = await proppatch(propertyUpdate(['x'.repeat(5 * 1024)]));
    expect(new Set(statusesOf(tooLarge.body))).toEqual(new Set([403]));
    expect(tooLarge.body).toContain('too large');
    expect((await proppatch(propertyUpdate(['y'.repeat(70 * 1024)]))).status).toBe(413);
    // Nothing of the refused updates was kept; 64 properties are.
    const get = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:p0/></D:prop></D:propfind>';
    expect(statusesOf((await propfind('davrw', target, '0', get)).body)).toEqual([404]);
    const allowed = await proppatch(propertyUpdate(Array.from({ length: 64 }, (_, index) => `value ${index}`)));
    expect(statusesOf(allowed.body)).toEqual([200]);
    expect((await propfind('davrw', target, '0', get)).body).toContain('value 0');
  });

  test('rclone lists, copies a folder in and out, and check --download finds no difference', async () => {
    const local = path.join(scratch, 'local');
    fs.mkdirSync(path.join(local, '폴더 안'), { recursive: true });
    fs.writeFileSync(path.join(local, 'random.bin'), randomBytes(5 * 1024 * 1024));
    fs.writeFileSync(path.join(local, '한글 파일 1.txt'), '안녕하세요\n');
    fs.writeFileSync(path.join(local, '폴더 안', 'nested file.txt'), 'nested\n');
    const obscured = (await run('rclone', ['obscure', 'pw'])).stdout.trim();
    const rclone = (args: string[], password = obscured) => run('rclone', [
      '--config', '/dev/null', '--webdav-url', urlOf('sync', '/'), '--webdav-vendor', 'other',
      '--webdav-user', 'x', '--webdav-pass', password, '--retries', '1', '--low-level-retries', '1', ...args,
    ], { HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: '', no_proxy: '' });

    const copyIn = await rclone(['copy', local, ':webdav:in']);
    expect(copyIn.code, copyIn.stderr).toBe(0);
    const listed = await rclone(['lsjson', '--recursive', ':webdav:in']);
    expect(listed.code, listed.stderr).toBe(0);
    const entries = JSON.parse(listed.stdout) as { Path: string; Size: number; IsDir: boolean }[];
    expect(entries.map((entry) => entry.Path).sort()).toEqual(['random.bin', '폴더 안', '폴더 안/nested file.txt', '한글 파일 1.txt'].sort());
    expect(entries.find((entry) => entry.Path === 'random.bin')?.Size).toBe(5 * 1024 * 1024);
    expect(fs.readFileSync(path.join(syncDir, 'in', '한글 파일 1.txt'), 'utf8')).toBe('안녕하세요\n');

    const out = path.join(scratch, 'out');
    const copyOut = await rclone(['copy', ':webdav:in', out]);
    expect(copyOut.code, copyOut.stderr).toBe(0);
    expect(fs.readFileSync(path.join(out, 'random.bin')).equals(fs.readFileSync(path.join(local, 'random.bin')))).toBe(true);
    const check = await rclone(['check', '--download', local, ':webdav:in']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toMatch(/0 differences found/);
    expect(check.stderr).toMatch(/3 matching files/);

    const wrong = await rclone(['lsjson', ':webdav:in'], (await run('rclone', ['obscure', 'not-the-password'])).stdout.trim());
    expect(wrong.code).not.toBe(0);
  });
});

function lockBody(scope: 'exclusive' | 'shared' = 'exclusive', owner = 'test'): string {
  return `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
}

/** A PROPPATCH body setting each of `values` as a property of its own (`Z:p0`, `Z:p1`, …). */
function propertyUpdate(values: string[]): string {
  const props = values.map((value, index) => `<Z:p${index}>${value}</Z:p${index}>`).join('');
  return `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>${props}</D:prop></D:set></D:propertyupdate>`;
}

/** The statuses of a multistatus body, in order (`207`, `507`, …). */
function statusesOf(body: string): number[] {
  return [...body.matchAll(/<(?:[A-Za-z]+:)?status>HTTP\/1\.1 (\d{3})/g)].map((match) => Number(match[1]));
}
