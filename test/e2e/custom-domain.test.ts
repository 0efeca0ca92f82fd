import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { DomainView } from '../../protocol/index.js';
import { startDomainDns, type DomainDns } from '../helpers/domain-dns.js';
import { eventually } from '../helpers/eventually.js';
import { closedPort, startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { expectCleanFailure, runCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const DOMAIN = 'shop.example.com';
const TXT_NAME = `_udns-challenge.${DOMAIN}`;

/** One request to the edge's HTTP port with `Host: <host>`, as a visitor of a custom domain sends it. */
function visitHost(port: number, host: string, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** The edge's JSON API with a member's token (the checks that need no CLI process). */
async function api(edge: TestEdge, token: string, method: string, target: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${edge.serverUrl}${target}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** The certificate the edge presents for `servername`, trusting only `ca`. */
function presented(port: number, servername: string, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve(certificate);
    });
    socket.once('error', reject);
  });
}

/*
 * Custom domains end to end: the real edge (with --acme against pebble), a real agent in front of
 * a local origin, the `udns` CLI as a process (dist/: run `npx tsc -p tsconfig.build.json` first),
 * and a DNS server on loopback playing the domain's own DNS (and relaying the zone to the edge).
 */
describe('custom domains: udns domain add/verify/list/remove', () => {
  let dns: DomainDns;
  let pebble: Pebble;
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  let home: string;
  let alice: NodeJS.ProcessEnv;
  let bob: NodeJS.ProcessEnv;
  let aliceToken: string;
  let txtValue = '';

  beforeAll(async () => {
    dns = await startDomainDns('edge.test');
    // pebble fetches HTTP-01 answers from the edge's HTTP port, so that port is chosen first.
    const httpPort = await closedPort();
    pebble = await startPebble(dns.address, { httpPort });
    edge = await startTestEdge({
      domain: 'edge.test', httpPort, httpsPort: 0, acme: true,
      acmeDirectory: pebble.directoryUrl, acmeCa: pebble.httpsCaFile, acmeEmail: 'ops@edge.test',
      domainResolver: dns.address, domainCheckInterval: '300ms',
    });
    dns.forwardTo(edge.edge.dnsUdpPort);
    origin = await startHttpOrigin();
    aliceToken = await edge.createAccount('alice');
    const bobToken = await edge.createAccount('bob');
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-custom-domain-'));
    fs.mkdirSync(path.join(home, 'files'));
    fs.writeFileSync(path.join(home, 'files', 'price-list.txt'), 'apples 3\n');
    agent = await startTestAgent(edge, [
      { kind: 'http', localPort: origin.port, name: 'alice' },
      { kind: 'share', dir: path.join(home, 'files'), name: 'alice-files' },
    ], { token: aliceToken });
    // Each CLI run starts a process (seconds on a busy machine): the token comes from the environment, not a login run.
    alice = { UDNS_CONFIG: path.join(home, 'none.json'), UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: aliceToken };
    bob = { UDNS_CONFIG: path.join(home, 'none.json'), UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: bobToken };
    expect((await api(edge, bobToken, 'POST', '/api/v1/names', { name: 'bob' })).status).toBe(201);
  }, 30_000);
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
    await pebble?.stop();
    await dns?.close();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  test('bad domains, zone names and names not yours: one line each, non-zero exit', async () => {
    expectCleanFailure(await runCli(['domain', 'add', 'bad domain', '--name', 'alice'], alice), /^udns: "bad domain" may hold only letters/);
    expectCleanFailure(await runCli(['domain', 'add', 'shop.edge.test', '--name', 'alice'], alice), /^udns: shop\.edge\.test is in this edge's own zone/);
    // The edge checks what the CLI checks, for every other client.
    expect(await api(edge, aliceToken, 'POST', '/api/v1/domains', { domain: `${'a'.repeat(64)}.example.com`, name: 'alice' })).toMatchObject({
      status: 400, json: { error: { code: 'name_invalid', message: expect.stringContaining('bad label') } },
    });
    expect(await api(edge, aliceToken, 'POST', '/api/v1/domains', { domain: 'EDGE.test.', name: 'alice' })).toMatchObject({ status: 400, json: { error: { code: 'name_reserved' } } });
    expect(await api(edge, aliceToken, 'POST', '/api/v1/domains', { domain: DOMAIN, name: 'bob' })).toMatchObject({
      status: 404, json: { error: { code: 'not_found', message: 'you hold no name bob: claim it with `udns name claim bob`' } },
    });
    expect(await api(edge, aliceToken, 'GET', '/api/v1/domains')).toEqual({ status: 200, json: { domains: [] } });
  });

  test('add prints the TXT record to publish; verify before it exists fails clearly and nothing is routed', async () => {
    const added = await runCli(['domain', 'add', 'Shop.Example.COM.', '--name', 'alice'], alice);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const txt = new RegExp(`^ {2}${TXT_NAME.replace(/\./g, '\\.')} +TXT +"(udns-[A-Za-z0-9_-]{32})"$`, 'm').exec(added.stdout);
    expect(txt).not.toBeNull();
    txtValue = txt![1]!;
    expect(added.stdout).toMatch(/^ {2}shop\.example\.com +CNAME +alice\.edge\.test$/m);
    expect(added.stdout).toContain('then run: udns domain verify shop.example.com');
    // Adding again is the same claim, same value.
    const again = await api(edge, aliceToken, 'POST', '/api/v1/domains', { domain: DOMAIN, name: 'alice.edge.test' });
    expect(again).toMatchObject({ status: 200, json: { created: false, domain: { domain: DOMAIN, name: 'alice', status: 'pending', txtValue } } });

    dns.set(DOMAIN, 'CNAME', ['alice.edge.test']);
    dns.set('alice.edge.test', 'A', ['127.0.0.1']);
    expectCleanFailure(await runCli(['domain', 'verify', DOMAIN], alice), /^udns: shop\.example\.com is not verified: no TXT record at _udns-challenge\.shop\.example\.com/);
    // An unproven claim routes nothing and takes nothing over: the edge's own app keeps the
    // host (a claim on the edge's own out-of-zone hostname must not cut its API off).
    const visited = await visitHost(edge.edge.httpPort, DOMAIN, '/echo');
    expect(visited.status).toBe(404);
    expect(visited.body).not.toContain('not routed');
  });

  test('once the TXT holds: verified, and the domain reaches the member\'s origin', async () => {
    dns.set(TXT_NAME, 'TXT', ['some-other-verification=1']);
    expect(await api(edge, aliceToken, 'POST', `/api/v1/domains/${DOMAIN}/verify`)).toMatchObject({
      status: 422, json: { error: { code: 'proof_rejected', message: expect.stringContaining('does not hold this account\'s value') } },
    });
    dns.set(TXT_NAME, 'TXT', ['some-other-verification=1', txtValue]);
    const verified = await runCli(['domain', 'verify', DOMAIN], alice);
    expect(verified).toMatchObject({ code: 0, stdout: 'verified: shop.example.com -> alice\n', stderr: '' });
    const visited = await visitHost(edge.edge.httpPort, `${DOMAIN}:${edge.edge.httpPort}`, '/echo');
    expect(visited.status).toBe(200);
    const seen = JSON.parse(visited.body) as { headers: Record<string, string> };
    expect(seen.headers.host).toBe(`${DOMAIN}:${edge.edge.httpPort}`);
    expect(seen.headers['x-forwarded-host']).toBe(`${DOMAIN}:${edge.edge.httpPort}`);
    // The member's name still works beside it.
    expect((await visitHost(edge.edge.httpPort, `alice.edge.test:${edge.edge.httpPort}`, '/echo')).status).toBe(200);
  });

  test('a folder share serves its custom domain too', async () => {
    const files = 'files.example.com';
    const { json } = await api(edge, aliceToken, 'POST', '/api/v1/domains', { domain: files, name: 'alice-files' });
    dns.set(`_udns-challenge.${files}`, 'TXT', [json.domain.txtValue]);
    dns.set(files, 'CNAME', ['alice-files.edge.test']);
    expect(await api(edge, aliceToken, 'POST', `/api/v1/domains/${files}/verify`)).toMatchObject({ status: 200, json: { domain: { status: 'verified' } } });
    const file = await visitHost(edge.edge.httpPort, files, '/price-list.txt');
    expect(file).toEqual({ status: 200, body: 'apples 3\n' });
  });

  test('another account cannot claim a verified domain', async () => {
    expectCleanFailure(await runCli(['domain', 'add', DOMAIN, '--name', 'bob'], bob), /^udns: shop\.example\.com is verified by another account$/);
  });

  test('HTTPS: the edge obtains a pebble-issued certificate for the domain and serves it by SNI', async () => {
    const root = await pebble.issuingRoot();
    const certificate = await eventually('a certificate for shop.example.com', async () => {
      const served = await presented(edge.edge.httpsPort!, DOMAIN, root);
      return served.subjectaltname === `DNS:${DOMAIN}` ? served : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    expect(certificate.subjectaltname).toBe(`DNS:${DOMAIN}`);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: edge.edge.httpsPort, servername: DOMAIN, path: '/echo', headers: { host: DOMAIN }, ca: root, agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect((JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-proto']).toBe('https');
    const listed = (await api(edge, aliceToken, 'GET', '/api/v1/domains')).json as { domains: DomainView[] };
    const shop = listed.domains.find((entry) => entry.domain === DOMAIN);
    expect(shop).toMatchObject({ status: 'verified' });
    expect(Date.parse(shop!.certificateValidTo!)).toBeGreaterThan(Date.now());
  }, 40_000);

  test('the TXT removed: the next re-check stops routing; remove drops the claim', async () => {
    dns.delete(TXT_NAME, 'TXT');
    await eventually('routing to stop', async () => ((await visitHost(edge.edge.httpPort, DOMAIN, '/echo')).status === 404 ? true : undefined));
    const listed = await runCli(['domain', 'list'], alice);
    expect(listed.stdout).toMatch(/^shop\.example\.com -> alice \(failed\): no TXT record at _udns-challenge\.shop\.example\.com/m);
    expect(edge.logs()).toContain('custom domain proof failed at re-check; routing stopped');
    // Now another account may prove it (its own value), and the first one's removal is its own business.
    expect((await runCli(['domain', 'remove', DOMAIN], alice))).toMatchObject({ code: 0, stdout: 'removed shop.example.com\n' });
    expect(await api(edge, aliceToken, 'DELETE', `/api/v1/domains/${DOMAIN}`)).toMatchObject({ status: 404, json: { error: { message: expect.stringContaining('you have no custom domain shop.example.com') } } });
    expect((await visitHost(edge.edge.httpPort, DOMAIN, '/')).status).toBe(404);
  });
});
