import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

describe('metrics of an HTTPS edge without an access log', () => {
  let certs: TestCertificates;
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${edge.edge.metricsPort}/metrics`)).text();

  beforeAll(async () => {
    certs = makeTestCertificates('edge.test');
    edge = await startTestEdge({ domain: 'edge.test', httpsPort: 0, tlsCert: certs.certFile, tlsKey: certs.keyFile, metricsListen: '127.0.0.1:0', metricsRequests: true });
    origin = await startHttpOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'site' }]);
  }, 60_000);
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
    fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  test('the served certificate\'s expiry, in seconds from now', async () => {
    const text = await scrape();
    const seconds = Number(/^udns_certificate_expiry_seconds\{source="file"\} (\S+)$/m.exec(text)?.[1]);
    // The test certificate is valid for 2 days.
    expect(seconds).toBeGreaterThan(86_400);
    expect(seconds).toBeLessThanOrEqual(2 * 86_400);
  });

  test('--metrics-requests fills the latency histogram with no access log', async () => {
    const res = await visit(edge, 'site', '/echo');
    expect(res.status).toBe(200);
    const text = await scrape();
    expect(text).toMatch(/^udns_http_request_duration_seconds_count\{code="2xx"\} 1$/m);
    expect(text).toMatch(/^udns_access_log_lines_total 0$/m);
  });

  test('other paths on the metrics listener are 404, other methods 405', async () => {
    const base = `http://127.0.0.1:${edge.edge.metricsPort}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
