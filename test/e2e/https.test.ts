import https from 'node:https';
import path from 'node:path';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { startAgent, type Agent } from '../../agent/agent.js';
import { isUdnsError } from '../../protocol/index.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

function httpsGet(port: number, host: string, path: string, ca: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, servername: host.split(':')[0], headers: { host }, ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

function plainGet(port: number, host: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    }).on('error', reject);
  });
}

describe('HTTPS with certificates from files', () => {
  let certs: TestCertificates;
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  let serverUrl: string;

  beforeAll(async () => {
    certs = makeTestCertificates();
    edge = await startTestEdge({ domain: 'edge.test', httpsPort: 0, tlsCert: certs.certFile, tlsKey: certs.keyFile, httpsRedirect: true, hsts: true });
    serverUrl = `https://127.0.0.1:${edge.edge.httpsPort}`;
    origin = await startHttpOrigin();
    agent = await startAgent({ serverUrl, token: edge.adminToken, routes: [{ kind: 'http', localPort: origin.port, name: 'tlsname' }], ca: certs.ca });
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('the agent connects over TLS with --ca and is given an https:// URL', () => {
    expect(agent.routes[0]!.url).toBe(`https://tlsname.edge.test:${edge.edge.httpsPort}`);
  });

  test('an agent on the WebSocket transport connects over wss:// with --ca and serves visitors', async () => {
    const wsAgent = await startAgent({ serverUrl, token: edge.adminToken, transport: 'ws', routes: [{ kind: 'http', localPort: origin.port, name: 'wsstls' }], ca: certs.ca });
    try {
      const response = await httpsGet(edge.edge.httpsPort!, `wsstls.edge.test:${edge.edge.httpsPort}`, '/echo', certs.ca);
      expect(response.status).toBe(200);
    } finally {
      wsAgent.stop();
    }
  });

  test('a visitor over HTTPS reaches the origin, which sees X-Forwarded-Proto: https', async () => {
    const response = await httpsGet(edge.edge.httpsPort!, `tlsname.edge.test:${edge.edge.httpsPort}`, '/echo', certs.ca);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).headers['x-forwarded-proto']).toBe('https');
  });

  test('a WebSocket over wss:// through the tunnel echoes', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${edge.edge.httpsPort}/ws`, { headers: { host: `tlsname.edge.test:${edge.edge.httpsPort}` }, ca: certs.ca });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('over tls');
    expect(await echoed).toBe('over tls');
    ws.close();
  });

  test('plain HTTP is redirected to HTTPS (308, same path), except ACME challenge paths', async () => {
    const redirected = await plainGet(edge.edge.httpPort, `tlsname.edge.test:${edge.edge.httpPort}`, '/a/b?c=d');
    expect(redirected.status).toBe(308);
    expect(redirected.headers.location).toBe(`https://tlsname.edge.test:${edge.edge.httpsPort}/a/b?c=d`);
    const acme = await plainGet(edge.edge.httpPort, `tlsname.edge.test:${edge.edge.httpPort}`, '/.well-known/acme-challenge/token123');
    expect(acme.status).not.toBe(308);
    // Routers send dyndns2 updates over plain HTTP and do not follow redirects.
    const update = await plainGet(edge.edge.httpPort, `edge.test:${edge.edge.httpPort}`, '/nic/update?hostname=x.edge.test');
    expect(update.status).toBe(401);
  });

  test('the edge\'s own HTTPS pages carry HSTS', async () => {
    const apex = await httpsGet(edge.edge.httpsPort!, 'edge.test', '/healthz', certs.ca);
    expect(apex.status).toBe(200);
    expect(apex.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  test('an agent that does not trust the certificate refuses to connect (and sends no token); --insecure overrides', async () => {
    const untrusted = await startAgent({ serverUrl, token: edge.adminToken, routes: [{ kind: 'http', localPort: origin.port }] })
      .then((a) => { a.stop(); return 'connected'; }, (error: unknown) => (isUdnsError(error) ? `${error.code}: ${error.message}` : String(error)));
    expect(untrusted).toMatch(/^tls_untrusted: the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(\w+\): pass --ca/);
    expect(edge.edge.tunnelCount()).toBe(1);
    const insecure = await startAgent({ serverUrl, token: edge.adminToken, routes: [{ kind: 'http', localPort: origin.port }], insecure: true });
    expect(insecure.routes[0]!.url).toMatch(/^https:/);
    insecure.stop();
  });

  test('the CLI: login --ca saves the trust, and status and name ls use it; without it one clear line', async () => {
    const env = { UDNS_CONFIG: path.join(certs.dir, 'client.json') };
    const refused = await runCli(['login', edge.adminToken, '--server', serverUrl], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toMatch(/^udns: the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(\w+\): pass --ca <file>/);
    const login = await runCli(['login', edge.adminToken, '--server', serverUrl, '--ca', certs.caFile], env);
    expect(login.stderr).toBe('');
    expect(login.stdout).toContain('as admin');
    const status = await runCli(['status'], env);
    expect(status.stdout).toContain('account  admin');
    expect((await runCli(['name', 'ls'], env)).code).toBe(0);
  });

  test('the CLI: --ca works, a missing --ca file is one clear line', async () => {
    const missing = await runCli(['http', String(origin.port), '--server', serverUrl, '--ca', '/nonexistent/ca.pem'], { UDNS_TOKEN: edge.adminToken });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toBe('udns: cannot read --ca /nonexistent/ca.pem: ENOENT');
  });
});

describe('HTTPS configuration errors', () => {
  test('--https-port without a certificate, or an unreadable one, is refused at start with a clear message', async () => {
    const certs = makeTestCertificates();
    const noCert = await runCli(['server', '--https-port', '0', '--data-dir', certs.dir]);
    expect(noCert.stderr).toContain('--https-port: needs --tls-cert and --tls-key');
    const mismatched = await runCli(['server', '--http-port', '0', '--dns-port', '0', '--https-port', '0', '--tls-cert', certs.certFile, '--tls-key', certs.strangerKeyFile, '--data-dir', certs.dir]);
    expect(mismatched.code).not.toBe(0);
    expect(mismatched.stderr).toContain('do not load as a PEM certificate and its key');
  });
});
