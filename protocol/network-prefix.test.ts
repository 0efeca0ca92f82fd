import { expect, test } from 'vitest';
import { isLoopback, networkOf } from './network-prefix.js';

test('a client network is an IPv4 address or an IPv6 /64, host bits cleared', () => {
  expect(networkOf('203.0.113.9')).toBe('203.0.113.9/32');
  expect(networkOf('::ffff:203.0.113.9')).toBe('203.0.113.9/32');
  expect(networkOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
  expect(networkOf('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
  expect(networkOf('2001:db8::1')).toBe('2001:db8::/64');
  expect(networkOf('::1')).toBe('::/64');
  expect(networkOf('fe80::1%eth0')).toBe('fe80::/64');
});

test('other prefix lengths: /24 and /56, and bits that cut through a byte', () => {
  const wide = { ipv4: 24, ipv6: 56 };
  expect(networkOf('192.0.2.254', wide)).toBe('192.0.2.0/24');
  expect(networkOf('2001:db8:aa:bbff:ffff::1', wide)).toBe('2001:db8:aa:bb00::/56');
  expect(networkOf('2001:db8:aa:bc00::1', wide)).toBe('2001:db8:aa:bc00::/56');
  expect(networkOf('10.1.255.7', { ipv4: 20, ipv6: 60 })).toBe('10.1.240.0/20');
  expect(networkOf('2001:db8:0:1f::1', { ipv4: 20, ipv6: 60 })).toBe('2001:db8:0:10::/60');
});

test('every address of one /64 shares a network, neighbours do not', () => {
  expect(new Set(['2001:db8:5:6::1', '2001:db8:5:6:ffff:ffff:ffff:fffe', '2001:db8:5:6:1234::'].map((a) => networkOf(a))).size).toBe(1);
  expect(networkOf('2001:db8:5:7::1')).not.toBe(networkOf('2001:db8:5:6::1'));
});

test('a string that is no address keeps a budget of its own', () => {
  expect(networkOf('')).toBe('');
  expect(networkOf('not an address')).toBe('not an address');
});

test('loopback in every spelling', () => {
  for (const address of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) expect(isLoopback(address), address).toBe(true);
  for (const address of ['128.0.0.1', '::2', '2001:db8::1', '10.0.0.1']) expect(isLoopback(address), address).toBe(false);
});
