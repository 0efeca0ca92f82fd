import { expect, test } from 'vitest';
import type { SearchHitView } from '../../protocol/search-api.js';
import { resultLines } from './search-command.js';

const hit: SearchHitView = {
  name: 'a.pdf', folder: '/docs/', path: '/docs/a.pdf', size: 1536, modified: '2026-11-30T10:00:00.000Z', type: 'application/pdf',
  owner: 'alice', share: 'alice-docs', locked: false, online: true, via: 'direct', sha256: null, price: null, trust: { score: null, ratings: 0, disputesLost: 0 }, url: 'http://alice-docs.localhost/docs/a.pdf', score: 1,
};

test('a truncated total reads N+ and asks for more words; hidden offline members are mentioned', () => {
  const lines = resultLines({ words: ['a'], hits: [hit], total: 5000, truncated: true, limit: 1, offset: 0, offlineHidden: true });
  expect(lines).toEqual([
    '1. a.pdf',
    '   alice-docs:/docs/ · 1.5 KB · 2026-11-30 · alice · online, via direct',
    '   http://alice-docs.localhost/docs/a.pdf',
    '',
    '1-1 of 5000+ for "a": --offset 1 for the next 1 (files of offline members are not shown on this edge) (too many matches to rank them all: add words to narrow it down)',
  ]);
  expect(resultLines({ words: ['zz'], hits: [], total: 0, truncated: false, limit: 20, offset: 0, offlineHidden: true })).toEqual(['no results for "zz" (files of offline members are not shown on this edge)']);
  expect(resultLines({ words: ['a'], hits: [], total: 3, truncated: false, limit: 20, offset: 20, offlineHidden: false })).toEqual(['no more results for "a" (3 in all)']);
});

test('a paid file shows its price and its seller\'s trust; a free one its owner\'s trust once rated', () => {
  const paid = { ...hit, price: 50, trust: { score: 4.3, ratings: 12, disputesLost: 0 } };
  const fresh = { ...hit, price: 1 };
  const rated = { ...hit, trust: { score: 2, ratings: 1, disputesLost: 2 } };
  const lines = resultLines({ words: ['a'], hits: [paid, fresh, rated, hit], total: 4, truncated: false, limit: 20, offset: 0, offlineHidden: false });
  expect(lines.slice(0, 2)).toEqual(['1. a.pdf  [50 credits]', '   alice-docs:/docs/ · 1.5 KB · 2026-11-30 · alice (trust 4.3/5 (12 ratings)) · online, via direct']);
  expect(lines.slice(3, 5)).toEqual(['2. a.pdf  [1 credit]', '   alice-docs:/docs/ · 1.5 KB · 2026-11-30 · alice (no ratings yet) · online, via direct']);
  expect(lines[7]).toBe('   alice-docs:/docs/ · 1.5 KB · 2026-11-30 · alice (trust 2.0/5 (1 rating, 2 disputes lost)) · online, via direct');
  expect(lines[10]).toBe('   alice-docs:/docs/ · 1.5 KB · 2026-11-30 · alice · online, via direct');
});
