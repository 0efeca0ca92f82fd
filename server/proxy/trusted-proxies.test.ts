import { describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import { loadEdgeConfig } from '../config.js';
import { isTrustedProxy, parseProxyNetwork } from './trusted-proxies.js';

describe('trusted proxies', () => {
  test('networks are CIDR or single addresses; anything else is refused', () => {
    expect(parseProxyNetwork('203.0.113.0/24')).toEqual({ address: '203.0.113.0', prefix: 24, family: 'ipv4' });
    expect(parseProxyNetwork('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
    expect(parseProxyNetwork('10.0.0.7')).toEqual({ address: '10.0.0.7', prefix: 32, family: 'ipv4' });
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'proxy.example', '10.0.0.0/8/8', '10.0.0.0/', '10.0.0.0/x', '']) {
      expect(parseProxyNetwork(bad), bad).toBeNull();
    }
  });

  test('a peer inside a listed network is trusted, IPv4-mapped peers as IPv4; nobody when the list is empty', () => {
    const networks = ['203.0.113.0/24', '2001:db8:1::/48'];
    expect(isTrustedProxy('203.0.113.77', networks)).toBe(true);
    expect(isTrustedProxy('::ffff:203.0.113.77', networks)).toBe(true);
    expect(isTrustedProxy('2001:db8:1:2::9', networks)).toBe(true);
    expect(isTrustedProxy('203.0.114.1', networks)).toBe(false);
    expect(isTrustedProxy('2001:db8:2::9', networks)).toBe(false);
    expect(isTrustedProxy(undefined, networks)).toBe(false);
    expect(isTrustedProxy('', networks)).toBe(false);
    expect(isTrustedProxy('203.0.113.77', [])).toBe(false);
  });

  test('--trusted-proxy is repeatable, UDNS_TRUSTED_PROXIES takes a list, and a bad network names the flag', () => {
    expect(loadEdgeConfig({}).trustedProxy).toEqual([]);
    expect(loadEdgeConfig({ trustedProxy: ['10.0.0.0/8', '2001:db8::/32'] }).trustedProxy).toEqual(['10.0.0.0/8', '2001:db8::/32']);
    expect(loadEdgeConfig({}, { UDNS_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.1' }).trustedProxy).toEqual(['10.0.0.0/8', '192.0.2.1']);
    try {
      loadEdgeConfig({ trustedProxy: ['10.0.0.0/8', 'cdn.example'] });
      expect.unreachable();
    } catch (error) {
      expect(isUdnsError(error, 'config_invalid')).toBe(true);
      expect((error as Error).message).toContain('--trusted-proxy');
    }
  });
});
