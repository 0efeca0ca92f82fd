import { describe, expect, test } from 'vitest';
import { isUdnsError } from '../protocol/index.js';
import { loadEdgeConfig } from './config.js';

describe('edge config', () => {
  test('defaults match the documentation', () => {
    expect(loadEdgeConfig({})).toMatchObject({
      domain: 'localhost', httpPort: 8080, dnsPort: 5300, publicIp: '127.0.0.1', dataDir: './.udns',
      tcpPorts: { low: 20000, high: 20999 }, bind: '0.0.0.0', logLevel: 'info',
    });
  });

  test('the default DNS port is not mDNS\'s 5353, which avahi and mDNSResponder hold on desktops', () => {
    expect(loadEdgeConfig({}).dnsPort).not.toBe(5353);
    expect(loadEdgeConfig({}).dnsPort).toBeGreaterThan(1023);
  });

  test('flags win over UDNS_* variables, which win over defaults', () => {
    const config = loadEdgeConfig({ httpPort: '9000' }, { UDNS_HTTP_PORT: '7000', UDNS_DOMAIN: 'Example.NET.' });
    expect(config.httpPort).toBe(9000);
    expect(config.domain).toBe('example.net');
  });

  test('every problem is reported at once, naming the flag', () => {
    try {
      loadEdgeConfig({ httpPort: 'x', publicIp: '::1', tcpPorts: '9-3', domain: 'bad_domain' });
      expect.unreachable();
    } catch (error) {
      expect(isUdnsError(error, 'config_invalid')).toBe(true);
      const message = (error as Error).message;
      for (const flag of ['--http-port', '--public-ip', '--tcp-ports', '--domain']) expect(message).toContain(flag);
    }
  });

  test('the config is frozen', () => {
    expect(Object.isFrozen(loadEdgeConfig({}))).toBe(true);
  });

  test('--acme and --tls-cert/--tls-key are one error naming both', () => {
    expect(() => loadEdgeConfig({ httpsPort: 443, acme: true, tlsCert: 'c.pem', tlsKey: 'k.pem' })).toThrow(/--acme.*--tls-cert\/--tls-key/);
  });

  test('--acme needs --https-port and defaults to Let\'s Encrypt production', () => {
    expect(() => loadEdgeConfig({ acme: true })).toThrow(/--acme: needs --https-port/);
    const config = loadEdgeConfig({ httpsPort: 443, acme: true });
    expect(config.acmeDirectory).toBe('https://acme-v02.api.letsencrypt.org/directory');
  });
  test('search and index settings: defaults, UDNS_* variables, and limits that contradict each other', () => {
    expect(loadEdgeConfig({})).toMatchObject({
      search: 'members', searchOffline: 'show', indexMaxEntriesPerShare: 250_000, indexMaxEntriesPerAccount: 1_000_000,
      indexRatePerTunnel: 5_000, indexRatePerAccount: 10_000,
    });
    expect(loadEdgeConfig({}, { UDNS_SEARCH: 'off', UDNS_SEARCH_OFFLINE: 'hide', UDNS_INDEX_MAX_ENTRIES_PER_SHARE: '10' }))
      .toMatchObject({ search: 'off', searchOffline: 'hide', indexMaxEntriesPerShare: 10 });
    expect(() => loadEdgeConfig({ search: 'everyone' })).toThrow(/--search:/);
    expect(() => loadEdgeConfig({ indexMaxEntriesPerShare: '20', indexMaxEntriesPerAccount: '10' })).toThrow(/--index-max-entries-per-share: cannot exceed --index-max-entries-per-account/);
    expect(() => loadEdgeConfig({ indexRatePerTunnel: '20000' })).toThrow(/--index-rate-per-tunnel: cannot exceed --index-rate-per-account/);
  });
});
