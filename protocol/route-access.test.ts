import { describe, expect, test } from 'vitest';
import {
  IpRules,
  basicAuthHash,
  checkRouteAccessSpec,
  decodeBasicAuthorization,
  matchesBasicAuthHash,
  parseAccessNetwork,
  parseBasicAuth,
  routeAccessWire,
  RouteAccessWire,
} from './route-access.js';

describe('parseAccessNetwork', () => {
  test('reads IPv4 and IPv6 networks and single addresses', () => {
    expect(parseAccessNetwork('203.0.113.0/24')).toEqual({ address: '203.0.113.0', prefix: 24, family: 'ipv4' });
    expect(parseAccessNetwork('192.0.2.7')).toEqual({ address: '192.0.2.7', prefix: 32, family: 'ipv4' });
    expect(parseAccessNetwork('2001:db8::/48')).toEqual({ address: '2001:db8::', prefix: 48, family: 'ipv6' });
    expect(parseAccessNetwork('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    expect(parseAccessNetwork('0.0.0.0/0').prefix).toBe(0);
  });

  test.each([
    ['10.0.0.0/33', /prefix length must be 0-32/],
    ['2001:db8::/129', /prefix length must be 0-128/],
    ['10.0.0/8', /not an IP network/],
    ['example.com', /not an IP network/],
    ['10.0.0.0/8/8', /not an IP network/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['', /not an IP network/],
    ['10.0.0.1/8', /write 10\.0\.0\.0\/8/],
    ['2001:db8::1/64', /write 2001:db8::\/64/],
  ])('refuses %j in one line naming the fix', (text, message) => {
    expect(() => parseAccessNetwork(text, '--deny-ip')).toThrow(message);
    try {
      parseAccessNetwork(text, '--deny-ip');
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
      expect((error as Error).message).toMatch(/^--deny-ip /);
    }
  });
});

describe('IpRules', () => {
  test('deny wins over allow; with an allow list only its networks pass', () => {
    const rules = new IpRules(['10.0.0.0/8', '2001:db8::/32'], ['10.1.0.0/16']);
    expect(rules.allows('10.2.3.4')).toBe(true);
    expect(rules.allows('10.1.2.3')).toBe(false);
    expect(rules.allows('192.0.2.1')).toBe(false);
    expect(rules.allows('2001:db8:1::5')).toBe(true);
    expect(rules.allows('2001:db9::5')).toBe(false);
  });

  test('IPv4-mapped addresses from dual-stack sockets count as IPv4; zones are ignored', () => {
    const rules = new IpRules(['127.0.0.2'], []);
    expect(rules.allows('::ffff:127.0.0.2')).toBe(true);
    expect(rules.allows('::ffff:127.0.0.1')).toBe(false);
    expect(new IpRules([], ['fe80::/10']).allows('fe80::1%eth0')).toBe(false);
  });

  test('no rules: everyone; rules: something that is not an address is refused', () => {
    expect(new IpRules().allows('whatever')).toBe(true);
    expect(new IpRules([], ['192.0.2.0/24']).allows('')).toBe(false);
  });
});

describe('parseBasicAuth', () => {
  test('splits at the first colon: the password may hold colons', () => {
    expect(parseBasicAuth('alice:a:b:c')).toEqual({ user: 'alice', password: 'a:b:c' });
  });

  test.each(['alice', ':pw', 'alice:', '', 'al\u0000ice:pw'])('refuses %j without repeating it', (text) => {
    expect(() => parseBasicAuth(text)).toThrow(/--basic-auth/);
    try {
      parseBasicAuth(text);
    } catch (error) {
      if (text.length > 3) expect((error as Error).message).not.toContain(text);
    }
  });

  test('a tcp route takes no Basic auth, and every problem is told at once', () => {
    expect(() => checkRouteAccessSpec({ basicAuth: [{ user: 'a', password: 'b' }], allowIp: ['nope'] }, 'tcp'))
      .toThrow(/--allow-ip "nope" is not an IP network.*; --basic-auth needs HTTP/);
    expect(() => checkRouteAccessSpec({ basicAuth: [{ user: 'a', password: 'b' }, { user: 'a', password: 'c' }] }, 'http')).toThrow(/each user name once/);
  });
});

describe('the wire form', () => {
  test('carries salted scrypt hashes, never the password, and they verify', () => {
    const wire = routeAccessWire({ basicAuth: [{ user: 'alice', password: 'correct horse' }], allowIp: ['192.0.2.0/24'] })!;
    expect(RouteAccessWire.parse(wire)).toEqual(wire);
    expect(JSON.stringify(wire)).not.toContain('correct horse');
    const [user] = wire.basicAuth!.users;
    expect(matchesBasicAuthHash('correct horse', user!)).toBe(true);
    expect(matchesBasicAuthHash('correct horsE', user!)).toBe(false);
    // A fresh salt per route: the same password hashes differently on another route.
    const other = routeAccessWire({ basicAuth: [{ user: 'alice', password: 'correct horse' }] })!;
    expect(other.basicAuth!.users[0]!.hash).not.toBe(user!.hash);
    expect(basicAuthHash('x', user!.salt)).toHaveLength(32);
  });

  test('no rules: no access field at all', () => {
    expect(routeAccessWire({})).toBeUndefined();
    expect(routeAccessWire({ allowIp: [], denyIp: [], basicAuth: [] })).toBeUndefined();
  });
});

describe('decodeBasicAuthorization', () => {
  const encode = (text: string): string => Buffer.from(text).toString('base64');
  test('reads the scheme in any case, the password past the first colon', () => {
    expect(decodeBasicAuthorization(`Basic ${encode('alice:pw:x')}`)).toEqual({ user: 'alice', password: 'pw:x' });
    expect(decodeBasicAuthorization(`bAsIc ${encode('a:b')}`)).toEqual({ user: 'a', password: 'b' });
  });
  test.each(['Bearer abc', `Basic ${encode('nocolon')}`, 'Basic', 'Basic !!!', `Basic${encode('a:b')}`])('null for %j', (value) => {
    expect(decodeBasicAuthorization(value)).toBeNull();
  });
});
