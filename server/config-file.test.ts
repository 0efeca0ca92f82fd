import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { isUdnsError } from '../protocol/index.js';
import { EDGE_CONFIG_KEYS, loadEdgeConfig } from './config.js';
import { readEdgeConfigFile } from './config-file.js';
import { diffConfigs } from './reload.js';

function writeFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-edge-yml-'));
  const file = path.join(dir, 'edge.yml');
  fs.writeFileSync(file, text);
  return file;
}

function problemsOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(isUdnsError(error, 'config_invalid')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected config_invalid');
}

describe('edge config file', () => {
  test('camelCase keys like the flags set the edge, under UDNS_* and flags', () => {
    const file = writeFile('domain: example.net\nhttpPort: 7000\ndnsPort: 5400\nmaxVisitorsPerNetwork: 10\ncaa:\n  - 0 issue "letsencrypt.org"\n');
    const layer = readEdgeConfigFile(file, EDGE_CONFIG_KEYS);
    const config = loadEdgeConfig({ dnsPort: '5500' }, { UDNS_HTTP_PORT: '7100' }, layer);
    expect(config).toMatchObject({ domain: 'example.net', httpPort: 7100, dnsPort: 5500, maxVisitorsPerNetwork: 10, caa: ['0 issue "letsencrypt.org"'] });
  });

  test('every problem at once: unknown keys with the key meant, kebab-case spellings, bad values named by file and key', () => {
    const file = writeFile('htpPort: 80\nhttps-port: 8443\ndomain: bad_domain\npublicIp: "::1"\nwhatever: 1\n');
    const message = problemsOf(() => loadEdgeConfig({ tcpPorts: '9-3' }, {}, readEdgeConfigFile(file, EDGE_CONFIG_KEYS)));
    expect(message).toContain('unknown key "htpPort", did you mean "httpPort"?');
    expect(message).toContain('unknown key "https-port", did you mean "httpsPort"?');
    expect(message).toContain('unknown key "whatever"');
    expect(message).not.toContain('"whatever", did you mean');
    expect(message).toContain(`${file}: domain:`);
    expect(message).toContain(`${file}: publicIp:`);
    expect(message).toContain('--tcp-ports:');
  });

  test('a value from UDNS_* is named by its variable', () => {
    expect(problemsOf(() => loadEdgeConfig({}, { UDNS_HTTP_PORT: 'x' }))).toContain('UDNS_HTTP_PORT:');
  });

  test('relative file paths are relative to the config file\'s folder, not the working directory', () => {
    const file = writeFile('dataDir: state\ntlsCert: tls/cert.pem\ntlsKey: /etc/udns/key.pem\n');
    const config = loadEdgeConfig({}, {}, readEdgeConfigFile(file, EDGE_CONFIG_KEYS));
    expect(config.dataDir).toBe(path.join(path.dirname(file), 'state'));
    expect(config.tlsCert).toBe(path.join(path.dirname(file), 'tls/cert.pem'));
    expect(config.tlsKey).toBe('/etc/udns/key.pem');
  });

  test('an empty file is all defaults; a list or bad YAML is an error', () => {
    expect(loadEdgeConfig({}, {}, readEdgeConfigFile(writeFile(''), EDGE_CONFIG_KEYS)).httpPort).toBe(8080);
    expect(problemsOf(() => loadEdgeConfig({}, {}, readEdgeConfigFile(writeFile('- a\n- b\n'), EDGE_CONFIG_KEYS)))).toContain('must be a mapping');
    expect(problemsOf(() => readEdgeConfigFile(writeFile('httpPort: [\n'), EDGE_CONFIG_KEYS))).toContain('is not valid YAML');
    expect(problemsOf(() => readEdgeConfigFile('/nonexistent/edge.yml', EDGE_CONFIG_KEYS))).toContain('ENOENT');
  });

  test('a reload names what changes live and what needs a restart', () => {
    const before = loadEdgeConfig({});
    const after = loadEdgeConfig({ logLevel: 'debug', maxVisitorsPerNetwork: '5', httpPort: '9000', domain: 'example.net' });
    const outcome = diffConfigs(before, after);
    expect(outcome.applied.sort()).toEqual(['logLevel', 'maxVisitorsPerNetwork']);
    expect(outcome.needsRestart.sort()).toEqual(['domain', 'httpPort']);
  });
  test('the search settings come from the file and change live on a reload', () => {
    const file = writeFile('search: public\nsearchOffline: hide\nindexMaxEntriesPerShare: 1000\nindexRatePerTunnel: 100\n');
    const config = loadEdgeConfig({}, {}, readEdgeConfigFile(file, EDGE_CONFIG_KEYS));
    expect(config).toMatchObject({ search: 'public', searchOffline: 'hide', indexMaxEntriesPerShare: 1000, indexRatePerTunnel: 100 });
    const outcome = diffConfigs(loadEdgeConfig({}), config);
    expect(outcome.applied.sort()).toEqual(['indexMaxEntriesPerShare', 'indexRatePerTunnel', 'search', 'searchOffline']);
    expect(outcome.needsRestart).toEqual([]);
  });
});
