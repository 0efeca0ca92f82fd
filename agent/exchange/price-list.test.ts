import { expect, test } from 'vitest';
import { MAX_AMOUNT } from '../../protocol/index.js';
import { PriceList, compileGlob, parsePriceFlag, priceRulesOf } from './price-list.js';

test('the first matching rule gives the price; a file no rule matches is free', () => {
  const prices = new PriceList([{ glob: 'talks/keynote.pdf', price: 500 }, { glob: 'talks/*.pdf', price: 50 }, { glob: '**/*.epub', price: 7 }]);
  expect(prices.priceOf('/talks/keynote.pdf')).toBe(500);
  expect(prices.priceOf('/talks/other.pdf')).toBe(50);
  expect(prices.priceOf('/talks/deep/other.pdf')).toBeNull();
  expect(prices.priceOf('/book.epub')).toBe(7);
  expect(prices.priceOf('/a/b/c/book.epub')).toBe(7);
  expect(prices.priceOf('/talks/notes.txt')).toBeNull();
  expect(new PriceList([]).priceOf('/anything')).toBeNull();
});

test('globs: * and ? stay in one folder, ** spans folders, sets, alternatives, a trailing / prices a folder', () => {
  const matches = (glob: string, path: string): boolean => compileGlob(glob).test(path);
  expect(matches('*.pdf', 'a.pdf')).toBe(true);
  expect(matches('*.pdf', 'talks/a.pdf')).toBe(false);
  expect(matches('/talks/*.pdf', 'talks/a.pdf')).toBe(true);
  expect(matches('talks/??.pdf', 'talks/ab.pdf')).toBe(true);
  expect(matches('talks/??.pdf', 'talks/abc.pdf')).toBe(false);
  expect(matches('talks/**', 'talks/2024/a/b.mp4')).toBe(true);
  expect(matches('talks/', 'talks/2024/b.mp4')).toBe(true);
  expect(matches('talks/', 'talksx/b.mp4')).toBe(false);
  expect(matches('**/x.pdf', 'x.pdf')).toBe(true);
  expect(matches('a/**/x.pdf', 'a/x.pdf')).toBe(true);
  expect(matches('a/**/x.pdf', 'a/b/c/x.pdf')).toBe(true);
  expect(matches('*.{pdf,epub}', 'a.epub')).toBe(true);
  expect(matches('*.{pdf,epub}', 'a.mobi')).toBe(false);
  expect(matches('[ab]-*.txt', 'b-1.txt')).toBe(true);
  expect(matches('[!ab]-*.txt', 'b-1.txt')).toBe(false);
  expect(matches('[!ab]-*.txt', 'c-1.txt')).toBe(true);
  // Regular-expression characters are literal; \ escapes a glob character.
  expect(matches('a+b (1).pdf', 'a+b (1).pdf')).toBe(true);
  expect(matches('a.pdf', 'aXpdf')).toBe(false);
  expect(matches('\\*.pdf', '*.pdf')).toBe(true);
  expect(matches('\\*.pdf', 'x.pdf')).toBe(false);
  expect(matches('한국어/*.pdf', '한국어/문서.pdf')).toBe(true);
});

test('--price parses GLOB=AMOUNT and refuses what is not one, naming the fix', () => {
  expect(parsePriceFlag('talks/*.pdf=50')).toEqual({ glob: 'talks/*.pdf', price: 50 });
  expect(parsePriceFlag('a=b.pdf=3')).toEqual({ glob: 'a=b.pdf', price: 3 });
  expect(parsePriceFlag(`x=${MAX_AMOUNT}`).price).toBe(MAX_AMOUNT);
  expect(() => parsePriceFlag('talks/*.pdf')).toThrow(/GLOB=AMOUNT/);
  expect(() => parsePriceFlag('=50')).toThrow(/GLOB=AMOUNT/);
  expect(() => parsePriceFlag('a.pdf=0')).toThrow(/from 1 to/);
  expect(() => parsePriceFlag('a.pdf=-3')).toThrow(/whole number/);
  expect(() => parsePriceFlag('a.pdf=2.5')).toThrow(/whole number/);
  expect(() => parsePriceFlag(`a.pdf=${MAX_AMOUNT + 1}`)).toThrow(/from 1 to/);
  expect(() => parsePriceFlag('talks/[ab.pdf=5')).toThrow(/\[ without its \]/);
  expect(() => parsePriceFlag('talks/{a,b.pdf=5')).toThrow(/\{ without its \}/);
  expect(() => parsePriceFlag('talks/../x=5')).toThrow(/\.\./);
  expect(() => parsePriceFlag('ta**lks/x=5')).toThrow(/whole folder/);
  for (const bad of ['a.pdf=0', 'nope']) {
    try {
      parsePriceFlag(bad);
    } catch (error) {
      expect((error as { code: string }).code).toBe('config_invalid');
    }
  }
});

test('config-file prices keep the file\'s order, and bad amounts are refused', () => {
  const rules = priceRulesOf({ 'talks/keynote.pdf': 500, 'talks/*.pdf': 50 });
  expect(new PriceList(rules).priceOf('/talks/keynote.pdf')).toBe(500);
  expect(() => new PriceList([{ glob: 'a', price: 0 }])).toThrow(/from 1 to/);
  expect(() => new PriceList([{ glob: 'a', price: 1.5 }])).toThrow(/whole number/);
});
