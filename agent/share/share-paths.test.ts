import { expect, test } from 'vitest';
import { isAcceptableName, isWindowsSafeName, parseSharePath } from './share-paths.js';

test('request paths decode to segments; every traversal spelling is refused before the disk', () => {
  expect(parseSharePath('/a%20b/%ED%95%9C.txt', false)).toEqual(['a b', '한.txt']);
  expect(parseSharePath('/folder/', false)).toEqual(['folder']);
  expect(parseSharePath('/', false)).toEqual([]);
  for (const bad of ['/..', '/a/../b', '/%2e%2e/x', '/%2E%2e/x', '/.%2e/x', '/a%2fb', '/a%5cb', '/a\\b', '/%00', '/%c0%ae%c0%ae/x', '/%252e%252e/x', '/%25252e/x', '//etc/passwd', '/a//b', '/%', '/%zz', 'relative']) {
    const refused = parseSharePath(bad, false);
    expect(Array.isArray(refused), bad).toBe(false);
    expect(refused, bad).toMatchObject({ status: 400 });
  }
  expect(parseSharePath('/.env', false)).toMatchObject({ status: 404 });
  expect(parseSharePath('/.env', true)).toEqual(['.env']);
});

test('new names: no separators, dots, controls or hidden names; Windows rules on a Windows agent', () => {
  expect(isAcceptableName('보고서 1.txt', false)).toBe(true);
  for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'a\u0000b', 'a\nb', '.hidden', 'x'.repeat(256)]) expect(isAcceptableName(bad, false), JSON.stringify(bad)).toBe(false);
  expect(isAcceptableName('.hidden', true)).toBe(true);
  for (const bad of ['report.txt:stream', 'CON', 'nul.txt', 'COM1', 'name.', 'name ', 'a?b', 'a*b', 'a"b', 'a<b']) {
    expect(isWindowsSafeName(bad), bad).toBe(false);
    expect(isAcceptableName(bad, false, 'win32'), bad).toBe(false);
  }
  expect(isAcceptableName('name.', false, 'linux')).toBe(true);
  expect(isWindowsSafeName('console.log')).toBe(true);
});
