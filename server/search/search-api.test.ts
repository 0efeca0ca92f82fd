import { expect, test } from 'vitest';
import { SEARCH_MEDIA_KINDS } from '../../protocol/search-api.js';
import { MEDIA_KINDS } from './search-index.js';

test('the API offers exactly the media families the store knows', () => {
  expect([...SEARCH_MEDIA_KINDS]).toEqual([...MEDIA_KINDS]);
});
