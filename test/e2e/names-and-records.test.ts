import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { apiCall, dig } from '../helpers/edge-client.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

describe('names and DNS records through the API', () => {
  let edge: TestEdge;
  let origin: Origin;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    alice = await edge.createAccount('alice');
    bob = await edge.createAccount('bob');
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test('claiming: 201 new, 200 already yours, 403 name_taken, 400 for bad names, 401 without a token', async () => {
    const claimed = await apiCall(edge, alice, 'POST', '/names', { name: 'Alice' });
    expect(claimed.status).toBe(201);
    expect(claimed.body).toEqual({
      claimed: true,
      name: { name: 'alice', url: `http://alice.localhost:${edge.edge.httpPort}`, online: false, createdAt: expect.any(String), records: [] },
    });
    expect(await apiCall(edge, alice, 'POST', '/names', { name: 'alice.localhost' })).toMatchObject({ status: 200, body: { claimed: false } });
    expect(await apiCall(edge, bob, 'POST', '/names', { name: 'alice' })).toMatchObject({ status: 403, body: { error: { code: 'name_taken' } } });
    expect(await apiCall(edge, bob, 'POST', '/names', { name: 'www' })).toMatchObject({ status: 400, body: { error: { code: 'name_reserved' } } });
    expect(await apiCall(edge, bob, 'POST', '/names', { name: 'www.bob' })).toMatchObject({ status: 400, body: { error: { code: 'name_invalid' } } });
    expect(await apiCall(edge, bob, 'POST', '/names', { label: 'bob' })).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await apiCall(edge, bob, 'POST', '/names', '{not json')).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await apiCall(edge, null, 'POST', '/names', { name: 'bob' })).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect(await apiCall(edge, null, 'GET', '/names')).toMatchObject({ status: 401 });
    // A claimed name exists in DNS at once, with the edge's address.
    expect((await dig(edge, 'alice.localhost', 'A')).answers).toEqual(['alice.localhost. 60 IN A 127.0.0.1']);
  });

  test('records: add, set, list and remove, each visible in DNS as soon as the call returns', async () => {
    await apiCall(edge, alice, 'POST', '/names', { name: 'alicedyn' });
    const added = await apiCall(edge, alice, 'POST', '/names/alicedyn/records', { type: 'a', value: '203.0.113.7' });
    expect(added.status).toBe(201);
    expect(added.body.record).toEqual({ owner: 'alicedyn', fqdn: 'alicedyn.localhost', type: 'A', value: '203.0.113.7', ttl: 60 });
    // An explicit A replaces the edge's address: dynamic DNS.
    expect((await dig(edge, 'alicedyn.localhost', 'A')).answers).toEqual(['alicedyn.localhost. 60 IN A 203.0.113.7']);
    expect((await apiCall(edge, alice, 'POST', '/names/alicedyn/records', { type: 'A', value: '203.0.113.7' })).status).toBe(200);

    const txt = await apiCall(edge, alice, 'POST', '/names/_acme-challenge.alicedyn.localhost/records', { type: 'TXT', value: 'proof-123', ttl: 120 });
    expect(txt.status).toBe(201);
    expect((await dig(edge, '_acme-challenge.alicedyn.localhost', 'TXT')).answers).toEqual(['_acme-challenge.alicedyn.localhost. 120 IN TXT "proof-123"']);
    await apiCall(edge, alice, 'POST', '/names/www.alicedyn/records', { type: 'CNAME', value: 'alicedyn.localhost' });
    expect((await dig(edge, 'www.alicedyn.localhost', 'A')).answers).toEqual([
      'www.alicedyn.localhost. 60 IN CNAME alicedyn.localhost.',
      'alicedyn.localhost. 60 IN A 203.0.113.7',
    ]);

    const set = await apiCall(edge, alice, 'PUT', '/names/alicedyn/records/A', { values: ['198.51.100.1', '198.51.100.2'], ttl: 300 });
    expect(set).toMatchObject({ status: 200, body: { changed: true } });
    expect((await dig(edge, 'alicedyn.localhost', 'A')).answers.sort()).toEqual(['alicedyn.localhost. 300 IN A 198.51.100.1', 'alicedyn.localhost. 300 IN A 198.51.100.2']);

    const listed = await apiCall(edge, alice, 'GET', '/names/alicedyn/records');
    expect(listed.body.records.map((r: { owner: string; type: string; value: string }) => `${r.owner} ${r.type} ${r.value}`)).toEqual([
      'alicedyn A 198.51.100.1', 'alicedyn A 198.51.100.2', '_acme-challenge.alicedyn TXT proof-123', 'www.alicedyn CNAME alicedyn.localhost',
    ]);
    const names = await apiCall(edge, alice, 'GET', '/names');
    expect(names.body.names.find((n: { name: string }) => n.name === 'alicedyn').records).toHaveLength(4);

    const one = await apiCall(edge, alice, 'DELETE', '/names/alicedyn/records/A?value=198.51.100.1');
    expect(one).toMatchObject({ status: 200, body: { removed: 1 } });
    expect((await apiCall(edge, alice, 'DELETE', '/names/alicedyn/records/A?value=198.51.100.1')).status).toBe(404);
    await apiCall(edge, alice, 'DELETE', '/names/alicedyn/records');
    // Back to the edge's own address once no A of the member's is left.
    expect((await dig(edge, 'alicedyn.localhost', 'A')).answers).toEqual(['alicedyn.localhost. 60 IN A 127.0.0.1']);
    await apiCall(edge, alice, 'DELETE', '/names/_acme-challenge.alicedyn/records/TXT');
    expect((await dig(edge, '_acme-challenge.alicedyn.localhost', 'TXT')).status).toBe('NXDOMAIN');
  });

  test('record errors: 400 invalid, 409 conflict, 403 on another account\'s name, 404 on an unclaimed one', async () => {
    await apiCall(edge, alice, 'POST', '/names', { name: 'alicerr' });
    const post = (owner: string, body: unknown, token = alice) => apiCall(edge, token, 'POST', `/names/${owner}/records`, body);
    expect(await post('alicerr', { type: 'A', value: '2001:db8::1' })).toMatchObject({ status: 400, body: { error: { code: 'record_invalid', message: expect.stringContaining('IPv4') } } });
    expect(await post('alicerr', { type: 'MX', value: 'x' })).toMatchObject({ status: 400, body: { error: { code: 'record_invalid' } } });
    expect(await post('alicerr', { type: 'TXT', value: 'x', ttl: 1 })).toMatchObject({ status: 400, body: { error: { code: 'record_invalid' } } });
    expect(await post('alicerr', { type: 'TXT' })).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await post('alicerr', { type: 'TXT', value: 'x', extra: 1 })).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await post('alicerr', { type: 'CNAME', value: 'example.com' })).toMatchObject({ status: 409, body: { error: { code: 'record_conflict' } } });
    await post('www.alicerr', { type: 'CNAME', value: 'example.com' });
    expect(await post('www.alicerr', { type: 'TXT', value: 'x' })).toMatchObject({ status: 409, body: { error: { code: 'record_conflict' } } });
    expect(await post('alicerr', { type: 'TXT', value: 'x' }, bob)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(await post('nobodys', { type: 'TXT', value: 'x' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await post('localhost', { type: 'TXT', value: 'x' })).toMatchObject({ status: 400, body: { error: { code: 'record_invalid' } } });
    expect((await apiCall(edge, bob, 'GET', '/names/alicerr')).status).toBe(403);
    expect((await apiCall(edge, bob, 'GET', '/names/nobodys')).status).toBe(404);
    expect((await apiCall(edge, alice, 'PUT', '/names/alicerr/records/A', { values: 'x' })).status).toBe(400);
  });

  test('a name shows online while a tunnel serves it; releasing it ends the route and its records', async () => {
    await apiCall(edge, alice, 'POST', '/names', { name: 'alicegone' });
    await apiCall(edge, alice, 'POST', '/names/alicegone/records', { type: 'TXT', value: 'bye' });
    await apiCall(edge, alice, 'POST', '/names/sub.alicegone/records', { type: 'A', value: '203.0.113.9' });
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alicegone' }], { token: alice });
    const closed = new Promise((resolve) => agent.once('routeClosed', (_route: unknown, error: unknown) => resolve(error)));
    agent.on('fatal', () => undefined);
    try {
      expect((await apiCall(edge, alice, 'GET', '/names/alicegone')).body.name).toMatchObject({ name: 'alicegone', online: true });
      expect((await visit(edge, 'alicegone', '/echo')).status).toBe(200);

      expect(await apiCall(edge, bob, 'DELETE', '/names/alicegone')).toMatchObject({ status: 404 });
      expect(await apiCall(edge, alice, 'DELETE', '/names/alicegone')).toMatchObject({ status: 200, body: { released: 'alicegone' } });
      expect(await closed).toMatchObject({ code: 'not_found', message: 'the name "alicegone" was released' });
      expect((await visit(edge, 'alicegone', '/echo')).status).toBe(404);
      expect((await dig(edge, 'alicegone.localhost', 'TXT')).status).toBe('NXDOMAIN');
      expect((await dig(edge, 'sub.alicegone.localhost', 'A')).status).toBe('NXDOMAIN');
      expect((await apiCall(edge, alice, 'GET', '/names')).body.names.map((n: { name: string }) => n.name)).not.toContain('alicegone');
      // Someone else can take it now, and starts with no records.
      expect((await apiCall(edge, bob, 'POST', '/names', { name: 'alicegone' })).body.name.records).toEqual([]);
    } finally {
      agent.stop();
    }
  });

  test('records survive a restart of the edge', async () => {
    const first = await startTestEdge();
    const token = await first.createAccount('carol');
    await apiCall(first, token, 'POST', '/names', { name: 'carolpc' });
    await apiCall(first, token, 'PUT', '/names/carolpc/records/AAAA', { values: ['2001:db8::c'] });
    await apiCall(first, token, 'POST', '/names/mail.carolpc/records', { type: 'TXT', value: 'v=spf1 -all' });
    await first.close();

    const second = await startTestEdge({ dataDir: first.dataDir });
    try {
      expect((await dig(second, 'carolpc.localhost', 'AAAA')).answers).toEqual(['carolpc.localhost. 60 IN AAAA 2001:db8::c']);
      expect((await dig(second, 'carolpc.localhost', 'A')).answers).toEqual(['carolpc.localhost. 60 IN A 127.0.0.1']);
      expect((await dig(second, 'mail.carolpc.localhost', 'TXT')).answers).toEqual(['mail.carolpc.localhost. 60 IN TXT "v=spf1 -all"']);
    } finally {
      await second.close();
    }
  });
});
