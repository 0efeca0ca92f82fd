import https from 'node:https';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

describe('the console over HTTPS: a __Host- cookie, Secure, no Domain', () => {
  let certs: TestCertificates;
  let edge: TestEdge;
  let host: string;

  function request(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: edge.edge.httpsPort, path, method, servername: 'edge.test', headers: { host, ...headers }, ca: certs.ca, agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  beforeAll(async () => {
    certs = makeTestCertificates();
    edge = await startTestEdge({ domain: 'edge.test', httpsPort: 0, tlsCert: certs.certFile, tlsKey: certs.keyFile });
    host = `edge.test:${edge.edge.httpsPort}`;
  });
  afterAll(async () => {
    await edge?.close();
  });

  test('signing in sets __Host-udns_console (Secure, HttpOnly, SameSite=Strict, Path=/, no Domain); it signs in over HTTPS only', async () => {
    const signIn = await request('POST', '/console/login', { 'content-type': 'application/x-www-form-urlencoded', origin: `https://${host}` }, new URLSearchParams({ token: edge.adminToken }).toString());
    expect(signIn.status).toBe(303);
    const [cookie] = signIn.headers['set-cookie'] ?? [];
    expect(cookie).toMatch(/^__Host-udns_console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
    const pair = cookie!.split(';')[0]!;
    const page = await request('GET', '/console', { cookie: pair });
    expect(page.status).toBe(200);
    expect(page.body).toContain('signed in as <b id="account">admin</b>');
    expect(page.headers['x-frame-options']).toBe('DENY');
    // The same value under the plain-HTTP name is not the HTTPS session.
    const plainName = await request('GET', '/console', { cookie: `udns_console=${pair.split('=')[1]}` });
    expect(plainName.body).toContain('id="sign-in"');
  });

  test('udns console\'s link is an https:// link on the apex, the code after #', async () => {
    const answer = await fetch(`http://127.0.0.1:${edge.edge.httpPort}/api/v1/console/link`, { method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}` } });
    expect(answer.status).toBe(201);
    const { url } = await answer.json() as { url: string };
    expect(url).toMatch(new RegExp(`^https://${host.replace('.', '\\.')}/console/login#[A-Za-z0-9_-]{43}$`));
  });
});
