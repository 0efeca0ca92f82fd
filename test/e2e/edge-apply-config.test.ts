import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../server/config.js';
import { dig } from '../helpers/edge-client.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

describe('EdgeHandle.applyConfig (what SIGHUP calls)', () => {
  let edge: TestEdge;
  beforeAll(async () => { edge = await startTestEdge({ caa: ['0 issue "letsencrypt.org"'] }); });
  afterAll(async () => { await edge?.close(); });

  const next = (changes: Record<string, unknown>) => parseEdgeConfig({ ...edge.edge.config, tcpPorts: '30000-30999', ...changes });

  test('CAA records and the log level change live; a new domain is named as needing a restart and not applied', async () => {
    expect((await dig(edge, 'localhost', 'CAA')).answers.join('\n')).toContain('letsencrypt.org');
    const outcome = edge.edge.applyConfig(next({ caa: ['0 issue "pki.goog"'], logLevel: 'warn', domain: 'example.net' }));
    expect(outcome.applied.sort()).toEqual(['caa', 'logLevel']);
    expect(outcome.needsRestart).toEqual(['domain']);
    const answers = (await dig(edge, 'localhost', 'CAA')).answers.join('\n');
    expect(answers).toContain('pki.goog');
    expect(answers).not.toContain('letsencrypt.org');
    expect(edge.edge.config).toMatchObject({ logLevel: 'warn', domain: 'localhost' });
  });

  test('a malformed CAA record is refused and changes nothing', async () => {
    const before = edge.edge.config;
    try {
      edge.edge.applyConfig(next({ caa: ['issue everybody'], maxVisitorsPerNetwork: 3 }));
      expect.unreachable();
    } catch (error) {
      expect(isUdnsError(error, 'config_invalid')).toBe(true);
    }
    expect(edge.edge.config).toBe(before);
  });
});
