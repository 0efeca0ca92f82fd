import { describe, expect, test } from 'vitest';
import { isUdnsError } from './errors.js';
import { randomName, validateName } from './names.js';

function codeOf(input: string): string {
  try {
    validateName(input);
    return 'ok';
  } catch (error) {
    return isUdnsError(error) ? error.code : 'unexpected';
  }
}

describe('names', () => {
  test.each(['a', 'alice', 'Alice', 'a-b', '0day', 'x'.repeat(63)])('%s is a valid name', (name) => {
    expect(codeOf(name)).toBe('ok');
    expect(validateName(name)).toBe(name.toLowerCase());
  });
  test.each(['', '-a', 'a-', 'a_b', 'a.b', 'é', 'x'.repeat(64), 'a b', 'a\u0000'])('%j is invalid', (name) => {
    expect(codeOf(name)).toBe('name_invalid');
  });
  test.each(['www', 'api', 'admin', 'ns1', 'ns2', 'mail', 'WWW'])('%s is reserved', (name) => {
    expect(codeOf(name)).toBe('name_reserved');
  });
  test('random names are valid, readable and varied', () => {
    const names = new Set(Array.from({ length: 200 }, () => randomName()));
    for (const name of names) expect(codeOf(name)).toBe('ok');
    expect(names.size).toBeGreaterThan(190);
  });
});
