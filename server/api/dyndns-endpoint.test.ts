import { describe, expect, test } from 'vitest';
import { basicCredentials, wantedAddresses } from './dyndns-endpoint.js';

const basic = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;

describe('dyndns2 request parts', () => {
  test('Basic credentials: user before the first colon, the rest is the password', () => {
    expect(basicCredentials(basic('alice:udns_abc:def'))).toEqual({ user: 'alice', password: 'udns_abc:def' });
    expect(basicCredentials(`basic   ${Buffer.from('a:b').toString('base64')}`)).toEqual({ user: 'a', password: 'b' });
    for (const bad of [undefined, '', 'Bearer udns_x', 'Basic', 'Basic !!!', basic('no-colon'), basic(':no-user')]) {
      expect(basicCredentials(bad)).toBeNull();
    }
  });

  test('myip: IPv4, IPv6 or both; malformed values fall back to the caller\'s address', () => {
    expect(wantedAddresses('203.0.113.7', '127.0.0.1')).toEqual({ A: '203.0.113.7', AAAA: undefined });
    expect(wantedAddresses('2001:DB8::0:7', '127.0.0.1')).toEqual({ A: undefined, AAAA: '2001:db8::7' });
    expect(wantedAddresses('2001:db8::7, 203.0.113.7', '127.0.0.1')).toEqual({ A: '203.0.113.7', AAAA: '2001:db8::7' });
    expect(wantedAddresses('not-an-ip', '198.51.100.1')).toEqual({ A: '198.51.100.1' });
    expect(wantedAddresses(undefined, '::ffff:198.51.100.1')).toEqual({ A: '198.51.100.1' });
    expect(wantedAddresses('', '2001:db8::1')).toEqual({ AAAA: '2001:db8::1' });
    expect(wantedAddresses(undefined, undefined)).toEqual({});
  });
});
