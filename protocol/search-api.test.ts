import { describe, expect, test } from 'vitest';
import { parseSearchParams, parseSize, searchVia, splitSharePath } from './search-api.js';

const parse = (query: string) => parseSearchParams(new URLSearchParams(query));
const problem = (query: string): string => {
  const result = parse(query);
  if (result.ok) throw new Error(`accepted ${query}`);
  return result.message;
};

describe('search parameters', () => {
  test('words, sizes with units, type, owner, paging', () => {
    expect(parse('q=  2024  보고서 .hwp&type=document&minSize=10M&maxSize=1.5G&owner=alice&limit=5&offset=10')).toEqual({
      ok: true,
      params: { q: ['2024', '보고서', '.hwp'], type: 'document', minSize: 10 * 1024 ** 2, maxSize: Math.round(1.5 * 1024 ** 3), owner: 'alice', limit: 5, offset: 10 },
    });
    expect(parse('q=x')).toEqual({ ok: true, params: { q: ['x'], limit: 20, offset: 0 } });
  });

  test('sizes as people type them', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('500k')).toBe(512_000);
    expect(parseSize('10MiB')).toBe(10 * 1024 ** 2);
    expect(parseSize('3 GB')).toBe(3 * 1024 ** 3);
    expect(parseSize('1e9')).toBeNull();
    expect(parseSize('-5')).toBeNull();
    expect(parseSize('9999999999999999P')).toBeNull();
  });

  test('every problem is named, and nothing bad gets through', () => {
    expect(problem('')).toMatch(/q is required/);
    expect(problem('q=%20%20')).toMatch(/q is empty/);
    expect(problem(`q=${'x'.repeat(257)}`)).toMatch(/longer than 256 characters/);
    expect(problem(`q=${encodeURIComponent('가'.repeat(257))}`)).toMatch(/longer than 256 characters/);
    expect(parse(`q=${encodeURIComponent(`${'가'.repeat(84)} ${'가'.repeat(84)} ${'가'.repeat(86)}`)}`).ok).toBe(true);
    expect(problem(`q=${'ab '.repeat(17)}`)).toMatch(/more than 16 words/);
    expect(problem(`q=${'x'.repeat(101)}`)).toMatch(/a word longer than 100 characters/);
    expect(problem('q=a%00b')).toMatch(/control characters/);
    expect(problem('q=a&min_size=1')).toMatch(/unknown parameter min_size/);
    expect(problem('q=a&q=b')).toMatch(/give q at most once/);
    expect(problem('q=a&minSize=2G&maxSize=1G')).toMatch(/minSize is larger than maxSize/);
    const several = problem('q=a&limit=101&type=movie&minSize=big&owner=Bob%20X');
    expect(several).toMatch(/limit must be a whole number from 1 to 100/);
    expect(several).toMatch(/type must be one of pdf, document/);
    expect(several).toMatch(/minSize must be bytes or a size such as 500k/);
    expect(several).toMatch(/owner must be an account name/);
    expect(problem('q=a&offset=10001')).toMatch(/offset must be a whole number from 0 to 10000/);
  });
});

test('folder and name of a share path', () => {
  expect(splitSharePath('/a.pdf')).toEqual({ folder: '/', name: 'a.pdf' });
  expect(splitSharePath('/보고서/2024/a b.pdf')).toEqual({ folder: '/보고서/2024/', name: 'a b.pdf' });
});

test('the path a download would take', () => {
  expect(searchVia(true, true)).toBe('direct');
  expect(searchVia(true, false)).toBe('push/relay');
  expect(searchVia(true, null)).toBe('push/relay');
  expect(searchVia(false, true)).toBeNull();
  expect(searchVia(true, true, false)).toBe('relay');
});
