import { describe, expect, test } from 'vitest';
import { readCookie } from './console-router.js';

describe('the console reads its session cookie', () => {
  test('one cookie of the name: its value', () => {
    expect(readCookie('a=1; udns_console=abc; b=2', 'udns_console')).toBe('abc');
    expect(readCookie(undefined, 'udns_console')).toBeNull();
    expect(readCookie('udns_console=', 'udns_console')).toBeNull();
    expect(readCookie(`udns_console=${'x'.repeat(101)}`, 'udns_console')).toBeNull();
  });

  test('two cookies of the name (one tossed in by a member site of the zone): neither is used', () => {
    expect(readCookie('udns_console=attacker; udns_console=victim', 'udns_console')).toBeNull();
  });
});
