import { describe, expect, test } from 'vitest';
import { AddDomainRequest, normaliseDomain } from './custom-domains.js';

describe('normaliseDomain', () => {
  test.each([
    ['shop.example.com', 'shop.example.com'],
    ['Shop.Example.COM.', 'shop.example.com'],
    ['  www.example.org  ', 'www.example.org'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['店.example.jp', 'xn--hxt.example.jp'],
    [`${'a'.repeat(63)}.example.com`, `${'a'.repeat(63)}.example.com`],
    [`${'abcdefghi.'.repeat(22)}example.comabcdef`, `${'abcdefghi.'.repeat(22)}example.comabcdef`],
  ])('%s → %s', (input, domain) => {
    expect(normaliseDomain(input)).toEqual({ domain });
  });

  test.each([
    ['', 'is empty'],
    ['bad domain', 'may hold only letters'],
    ['localhost', 'needs at least two labels'],
    ['192.0.2.1', 'is an IP address'],
    ['[2001:db8::1]', 'is an IP address'],
    ['shop.example.com:8080', 'may hold only letters'],
    ['*.example.com', 'may hold only letters'],
    ['_dmarc.example.com', 'may hold only letters'],
    ['-shop.example.com', 'bad label "-shop"'],
    ['shop..example.com', 'bad label ""'],
    [`${'a'.repeat(64)}.example.com`, 'bad label'],
    [`${'abcdefghi.'.repeat(25)}example.com`, 'longer than 237 characters'],
    [`${'abcdefghi.'.repeat(23)}example.com`, 'longer than 237 characters (its _udns-challenge record must fit in 253)'],
    ['example.123', 'all-digit label'],
    ['https://shop.example.com/', 'may hold only letters'],
  ])('%j is refused: %s', (input, problem) => {
    const result = normaliseDomain(input);
    expect(result).toHaveProperty('problem');
    expect((result as { problem: string }).problem).toContain(problem);
  });

  test('the API schema names the problem and the value, and takes nothing else', () => {
    const bad = AddDomainRequest.safeParse({ domain: 'bad domain', name: 'alice' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/^"bad domain" may hold only letters/);
    expect(AddDomainRequest.safeParse({ domain: 'a.example', name: 'alice', extra: 1 }).success).toBe(false);
    expect(AddDomainRequest.parse({ domain: 'A.Example.', name: 'alice' })).toEqual({ domain: 'a.example', name: 'alice' });
  });
});
