import { expect, test } from 'vitest';
import { CHALLENGE_TTL, ChallengeRecords } from './challenge-records.js';

test('wildcard and apex values are served together at _acme-challenge', () => {
  const records = new ChallengeRecords();
  records.add('wildcard-value');
  records.add('apex-value');
  expect(records.recordsAt('_acme-challenge').map((r) => r.value)).toEqual(['wildcard-value', 'apex-value']);
  expect(records.recordsAt('_acme-challenge')[0]!.ttl).toBe(CHALLENGE_TTL);
  expect(records.recordsAt('_acme-challenge.alice')).toEqual([]);
  expect(records.recordsAt('alice')).toEqual([]);
});

test('a value added twice stays until removed twice', () => {
  const records = new ChallengeRecords();
  records.add('v');
  records.add('v');
  records.remove('v');
  expect(records.recordsAt('_acme-challenge')).toHaveLength(1);
  records.remove('v');
  expect(records.recordsAt('_acme-challenge')).toEqual([]);
});
