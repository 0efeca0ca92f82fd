import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { makeShareFixture, type ShareFixture } from '../../test/helpers/share-fixtures.js';
import { collapse } from './folder-watcher.js';
import { isAddressableName, mediaTypeOf, scanVisibleFiles } from './visible-files.js';

let fixture: ShareFixture | null = null;
afterEach(() => {
  fixture?.cleanup();
  fixture = null;
});

function policyOf(root: string, showHidden = false, followSymlinks = false): { root: string; showHidden: boolean; followSymlinks: boolean } {
  return { root: fs.realpathSync(root), showHidden, followSymlinks };
}

test('the index holds what a visitor sees: no dotfiles, no links leaving the share, links inside it listed', async () => {
  fixture = makeShareFixture();
  const files = await scanVisibleFiles(policyOf(fixture.root));
  expect([...files.keys()].sort()).toEqual([
    '/a & b #1.txt', '/data.bin', '/hello.txt', '/inner-link.txt', '/page.html', '/한글 폴더/sub/deep.txt', '/한글 폴더/보고서 1.txt',
  ]);
  const data = files.get('/data.bin')!;
  expect(data.size).toBe(100_000);
  expect(Number.isInteger(data.mtime)).toBe(true);
  expect(data.type).toBe('application/octet-stream');
  expect(files.get('/page.html')!.type).toBe('text/html');
  // The link is listed under its own name, read through its target.
  expect(files.get('/inner-link.txt')!.real).toBe(path.join(fs.realpathSync(fixture.root), 'hello.txt'));
});

test('--show-hidden and --follow-symlinks widen the index exactly as they widen the share', async () => {
  fixture = makeShareFixture();
  const files = await scanVisibleFiles(policyOf(fixture.root, true, true));
  expect(files.has('/.env')).toBe(true);
  expect(files.has('/.git/config')).toBe(true);
  expect(files.has('/escape/secret.txt')).toBe(true);
  expect(files.has('/escape.txt')).toBe(true);
});

test('a visible link into a hidden folder stays out, as the share refuses it', async () => {
  fixture = makeShareFixture();
  fs.symlinkSync(path.join(fixture.root, '.git'), path.join(fixture.root, 'git-link'));
  const files = await scanVisibleFiles(policyOf(fixture.root));
  expect([...files.keys()].some((name) => name.startsWith('/git-link'))).toBe(false);
});

test('a link to an ancestor folder is not walked forever', async () => {
  fixture = makeShareFixture();
  fs.symlinkSync(fixture.root, path.join(fixture.root, '한글 폴더', 'sub', 'loop'));
  const files = await scanVisibleFiles(policyOf(fixture.root));
  expect(files.has('/한글 폴더/sub/deep.txt')).toBe(true);
  expect([...files.keys()].some((name) => name.includes('/loop/'))).toBe(false);
});

test('names a visitor cannot ask for by URL, and paths over 1 KiB, are left out', async () => {
  fixture = makeShareFixture();
  fs.writeFileSync(path.join(fixture.root, 'tab\there.txt'), 'x');
  fs.writeFileSync(path.join(fixture.root, 'back\\slash.txt'), 'x');
  fs.writeFileSync(path.join(fixture.root, 'percent%41.txt'), 'x');
  fs.writeFileSync(path.join(fixture.root, '50% off.txt'), 'x');
  let deep = fixture.root;
  for (let level = 0; level < 5; level++) fs.mkdirSync(deep = path.join(deep, 'd'.repeat(250)));
  fs.writeFileSync(path.join(deep, 'far.txt'), 'x');
  const files = await scanVisibleFiles(policyOf(fixture.root));
  expect(files.has('/50% off.txt')).toBe(true);
  expect(files.has('/tab\there.txt')).toBe(false);
  expect(files.has('/back\\slash.txt')).toBe(false);
  expect(files.has('/percent%41.txt')).toBe(false);
  expect([...files.keys()].some((name) => name.endsWith('/far.txt'))).toBe(false);
  expect(isAddressableName('보고서.hwp', false)).toBe(true);
  expect(isAddressableName('.hidden', false)).toBe(false);
  expect(isAddressableName('.hidden', true)).toBe(true);
});

test.skipIf(process.getuid?.() === 0)('an unreadable file is not offered: a visitor could not fetch it either', async () => {
  fixture = makeShareFixture();
  fs.chmodSync(path.join(fixture.root, 'hello.txt'), 0o000);
  const files = await scanVisibleFiles(policyOf(fixture.root));
  expect(files.has('/hello.txt')).toBe(false);
  expect(files.has('/data.bin')).toBe(true);
});

test('sockets, FIFOs and dangling links are not files', async () => {
  fixture = makeShareFixture();
  fs.symlinkSync(path.join(fixture.root, 'gone.txt'), path.join(fixture.root, 'dangling.txt'));
  const files = await scanVisibleFiles(policyOf(fixture.root));
  expect(files.has('/dangling.txt')).toBe(false);
});

test('a scan under a path sees only that part, and nothing for a hidden or missing one', async () => {
  fixture = makeShareFixture();
  const policy = policyOf(fixture.root);
  expect([...(await scanVisibleFiles(policy, '/한글 폴더/sub')).keys()]).toEqual(['/한글 폴더/sub/deep.txt']);
  expect([...(await scanVisibleFiles(policy, '/hello.txt')).keys()]).toEqual(['/hello.txt']);
  expect((await scanVisibleFiles(policy, '/.git')).size).toBe(0);
  expect((await scanVisibleFiles(policy, '/nope')).size).toBe(0);
  expect((await scanVisibleFiles(policy, '/escape')).size).toBe(0);
});

test('media types by extension, octet-stream when unknown', () => {
  expect(mediaTypeOf('/a/report.PDF')).toBe('application/pdf');
  expect(mediaTypeOf('/a/photo.jpg')).toBe('image/jpeg');
  expect(mediaTypeOf('/a/2024_연말보고서_최종.hwp')).toMatch(/^application\//);
  expect(mediaTypeOf('/a/noextension')).toBe('application/octet-stream');
});

test('changed paths collapse into their topmost folders', () => {
  expect(collapse(['/a/b', '/a', '/a b/c', '/a/b/c', '/x'])).toEqual(['/a', '/a b/c', '/x']);
  expect(collapse(['/a', '/'])).toEqual(['/']);
});
