import { expect, test } from 'vitest';
import type { SearchHitView } from '../../protocol/search-api.js';
import { resultLines } from './search-command.js';

const hit: SearchHitView = {
  name: 'a.pdf', folder: '/docs/', path: '/docs/a.pdf', size: 1536, modified: '2026-11-30T10:00:00.000Z', type: 'application/pdf',
  owner: 'alice', share: 'alice-docs', locked: false, online: true, via: 'direct', sha256: null, url: 'http://alice-docs.localhost/docs/a.pdf', score: 1,
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
