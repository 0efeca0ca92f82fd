import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_CHANGES_PER_HOUR } from '../../server/api/dyndns-endpoint.js';
import { apiCall, dig, dyndnsUpdate } from '../helpers/edge-client.js';
import { startHttpOrigin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { executeSql, queryRows } from '../helpers/test-databases.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const run = promisify(execFile);
const DDCLIENT = '/usr/bin/ddclient';
const DDCLIENT_MISSING = 'ddclient not found: install it (apt-get install -y ddclient, or npm run test:setup) to run the ddclient test';

describe('dyndns2 updates (/nic/update)', () => {
  let edge: TestEdge;
  let alice: { user: string; password: string };
  let bob: { user: string; password: string };

  beforeAll(async () => {
    edge = await startTestEdge();
    alice = { user: 'alice', password: await edge.createAccount('alice') };
    bob = { user: 'bob', password: await edge.createAccount('bob') };
    for (const name of ['alice', 'alicetwo']) await apiCall(edge, alice.password, 'POST', '/names', { name });
    await apiCall(edge, bob.password, 'POST', '/names', { name: 'bob' });
  });
  afterAll(() => edge?.close());

  const update = (query: string, auth: { user: string; password: string } | null = alice, headers?: Record<string, string>) =>
    dyndnsUpdate(edge, query, auth, headers);

  test('good sets the A record (DNS answers it at once), the same address again is nochg', async () => {
    const first = await update('hostname=alice.localhost&myip=203.0.113.10');
    expect(first).toMatchObject({ status: 200, body: 'good 203.0.113.10\n' });
    expect(first.headers['content-type']).toMatch(/^text\/plain/);
    expect((await dig(edge, 'alice.localhost', 'A')).answers).toEqual(['alice.localhost. 60 IN A 203.0.113.10']);
    expect((await update('hostname=alice.localhost&myip=203.0.113.10')).body).toBe('nochg 203.0.113.10\n');
    // The update went through the API's view too.
    const records = (await apiCall(edge, alice.password, 'GET', '/names/alice/records')).body.records;
    expect(records).toEqual([{ owner: 'alice', fqdn: 'alice.localhost', type: 'A', value: '203.0.113.10', ttl: 60 }]);
  });

  test('IPv6, both families at once, sub-names, several hostnames answered line by line', async () => {
    expect((await update('hostname=alicetwo.localhost&myip=2001:DB8::0:2')).body).toBe('good 2001:db8::2\n');
    expect((await dig(edge, 'alicetwo.localhost', 'AAAA')).answers).toEqual(['alicetwo.localhost. 60 IN AAAA 2001:db8::2']);
    // A had no record of the member's: still the edge's address.
    expect((await dig(edge, 'alicetwo.localhost', 'A')).answers).toEqual(['alicetwo.localhost. 60 IN A 127.0.0.1']);
    expect((await update('hostname=alicetwo.localhost&myip=198.51.100.2,2001:db8::2')).body).toBe('good 198.51.100.2,2001:db8::2\n');
    expect((await dig(edge, 'alicetwo.localhost', 'A')).answers).toEqual(['alicetwo.localhost. 60 IN A 198.51.100.2']);

    const many = await update('hostname=home.alicetwo.localhost,alicetwo.localhost,bob.localhost,alicetwo,example.com,nobody.localhost,ALICETWO.LOCALHOST.&myip=198.51.100.2');
    expect(many.body).toBe(['good 198.51.100.2', 'nochg 198.51.100.2', 'nohost', 'notfqdn', 'nohost', 'nohost', 'nochg 198.51.100.2', ''].join('\n'));
    expect((await dig(edge, 'home.alicetwo.localhost', 'A')).answers).toEqual(['home.alicetwo.localhost. 60 IN A 198.51.100.2']);
  });

  test('no myip (or a malformed one): the caller\'s socket address, never X-Forwarded-For', async () => {
    const own = await update('hostname=alicetwo.localhost', alice, { 'x-forwarded-for': '198.51.100.99' });
    expect(own.body).toBe('good 127.0.0.1\n');
    expect((await update('hostname=alicetwo.localhost&myip=999.1.1.1', alice, { 'x-forwarded-for': '198.51.100.99' })).body).toBe('nochg 127.0.0.1\n');
  });

  test('badauth is a 401 with a Basic challenge: no credentials, a wrong token, or a token of another account', async () => {
    for (const auth of [null, { user: 'alice', password: 'udns_wrong' }, { user: 'alice', password: bob.password }, { user: 'bob', password: alice.password }]) {
      const answer = await update('hostname=alice.localhost&myip=203.0.113.11', auth);
      expect(answer).toMatchObject({ status: 401, body: 'badauth\n' });
      expect(answer.headers['www-authenticate']).toBe('Basic realm="udns", charset="UTF-8"');
    }
    expect((await dig(edge, 'alice.localhost', 'A')).answers).toEqual(['alice.localhost. 60 IN A 203.0.113.10']);
    expect(edge.logs()).not.toContain(alice.password);
  });

  test('notfqdn once without hostnames; numhost for more than 20', async () => {
    expect((await update('myip=203.0.113.1')).body).toBe('notfqdn\n');
    expect((await update('hostname=,&myip=203.0.113.1')).body).toBe('notfqdn\n');
    const hosts = Array.from({ length: 21 }, () => 'alice.localhost').join(',');
    expect((await update(`hostname=${hosts}&myip=203.0.113.1`)).body).toBe('numhost\n');
    expect((await dig(edge, 'alice.localhost', 'A')).answers).toEqual(['alice.localhost. 60 IN A 203.0.113.10']);
  });

  test('dnserr when the host cannot take an address (it is a CNAME)', async () => {
    await apiCall(edge, alice.password, 'POST', '/names/www.alice/records', { type: 'CNAME', value: 'example.com' });
    expect((await update('hostname=www.alice.localhost,alice.localhost&myip=203.0.113.10')).body).toBe('dnserr\nnochg 203.0.113.10\n');
  });

  test('any host reaches the endpoint unless a tunnel serves that name', async () => {
    const byName = await update('hostname=alice.localhost&myip=203.0.113.10', alice, { host: `alice.localhost:${edge.edge.httpPort}` });
    expect(byName.body).toBe('nochg 203.0.113.10\n');
    expect((await update('hostname=alice.localhost&myip=203.0.113.10', alice, { host: 'dyn.example.org' })).body).toBe('nochg 203.0.113.10\n');
    // A name with a live tunnel is the member's own site, /nic/update included.
    const origin = await startHttpOrigin();
    const agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'alice' }], { token: alice.password });
    try {
      const tunnelled = await update('hostname=alice.localhost&myip=203.0.113.10', alice, { host: `alice.localhost:${edge.edge.httpPort}` });
      expect(tunnelled).toMatchObject({ status: 404, body: 'origin: not found' });
    } finally {
      agent.stop();
      await origin.close();
    }
  });

  test(`abuse after ${MAX_CHANGES_PER_HOUR} changing updates in an hour; nochg stays cheap and is not counted`, async () => {
    const own = await startTestEdge();
    try {
      const erin = { user: 'erin', password: await own.createAccount('erin') };
      const frank = { user: 'frank', password: await own.createAccount('frank') };
      await apiCall(own, erin.password, 'POST', '/names', { name: 'erinpc' });
      await apiCall(own, frank.password, 'POST', '/names', { name: 'frankpc' });
      const send = (query: string, auth = erin) => dyndnsUpdate(own, query, auth).then((answer) => answer.body);
      const target = { dialect: 'sqlite' as const, file: path.join(own.dataDir, 'udns.db') };
      const stamp = async () => (await queryRows(target, `SELECT "updatedAt" FROM "DnsRecord"`))[0]?.[0];

      for (let i = 1; i <= MAX_CHANGES_PER_HOUR; i++) {
        expect(await send(`hostname=erinpc.localhost&myip=198.51.100.${i}`)).toBe(`good 198.51.100.${i}\n`);
      }
      const last = `198.51.100.${MAX_CHANGES_PER_HOUR}`;
      expect(await send('hostname=erinpc.localhost&myip=203.0.113.200')).toBe('abuse\n');
      expect((await dig(own, 'erinpc.localhost', 'A')).answers).toEqual([`erinpc.localhost. 60 IN A ${last}`]);
      // Repeating the current address is still answered, and writes nothing.
      const before = await stamp();
      for (let i = 0; i < 5; i++) expect(await send(`hostname=erinpc.localhost&myip=${last}`)).toBe(`nochg ${last}\n`);
      expect(await stamp()).toEqual(before);
      // The allowance is per account.
      expect(await send('hostname=frankpc.localhost&myip=203.0.113.50', frank)).toBe('good 203.0.113.50\n');
    } finally {
      await own.close();
    }
  });

  test('updates survive a restart', async () => {
    const first = await startTestEdge();
    const carol = { user: 'carol', password: await first.createAccount('carol') };
    await apiCall(first, carol.password, 'POST', '/names', { name: 'carolpc' });
    expect((await dyndnsUpdate(first, 'hostname=carolpc.localhost&myip=203.0.113.77', carol)).body).toBe('good 203.0.113.77\n');
    await first.close();
    const second = await startTestEdge({ dataDir: first.dataDir });
    try {
      expect((await dig(second, 'carolpc.localhost', 'A')).answers).toEqual(['carolpc.localhost. 60 IN A 203.0.113.77']);
      expect((await dyndnsUpdate(second, 'hostname=carolpc.localhost&myip=203.0.113.77', carol)).body).toBe('nochg 203.0.113.77\n');
    } finally {
      await second.close();
    }
  });

  test('a failing database: 911 when the account cannot be checked, dnserr when the record cannot be written', async () => {
    const broken = await startTestEdge();
    try {
      const dave = { user: 'dave', password: await broken.createAccount('dave') };
      await apiCall(broken, dave.password, 'POST', '/names', { name: 'davepc' });
      const target = { dialect: 'sqlite' as const, file: path.join(broken.dataDir, 'udns.db') };
      await executeSql(target, 'ALTER TABLE "DnsRecord" RENAME TO "DnsRecordGone"');
      expect((await dyndnsUpdate(broken, 'hostname=davepc.localhost&myip=203.0.113.5', dave)).body).toBe('dnserr\n');
      await executeSql(target, 'ALTER TABLE "Token" RENAME TO "TokenGone"');
      expect(await dyndnsUpdate(broken, 'hostname=davepc.localhost&myip=203.0.113.5', dave)).toMatchObject({ status: 200, body: '911\n' });
    } finally {
      await broken.close();
    }
  });
});

describe('ddclient against the edge', () => {
  const installed = fs.existsSync(DDCLIENT);

  test('ddclient is installed (CI must not skip the test below)', (ctx) => {
    if (!installed && !process.env.CI) ctx.skip(DDCLIENT_MISSING);
    expect(installed, DDCLIENT_MISSING).toBe(true);
  });

  test.runIf(installed)('ddclient (dyndns2) sets the address DNS answers; run again, it is told nochg', async () => {
    const edge = await startTestEdge();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ddclient-'));
    try {
      const token = await edge.createAccount('alice');
      await apiCall(edge, token, 'POST', '/names', { name: 'alice' });
      const conf = path.join(dir, 'ddclient.conf');
      fs.writeFileSync(conf, [
        'daemon=0',
        'syslog=no',
        'protocol=dyndns2',
        'use=ip, ip=198.51.100.23',
        `server=127.0.0.1:${edge.edge.httpPort}`,
        'ssl=no',
        'login=alice',
        `password=${token}`,
        'alice.localhost',
        '',
      ].join('\n'), { mode: 0o600 });
      const ddclient = (extra: string[] = []) => run(DDCLIENT, ['-daemon=0', '-file', conf, '-cache', path.join(dir, 'cache'), '-foreground', '-noquiet', '-verbose', ...extra]);

      const first = await ddclient();
      const firstOut = first.stdout + first.stderr;
      expect(firstOut).toContain('RECEIVE:  good 198.51.100.23');
      expect(firstOut).toMatch(/SUCCESS: +updating alice\.localhost: good: IP address set to 198\.51\.100\.23/);
      expect((await dig(edge, 'alice.localhost', 'A')).answers).toEqual(['alice.localhost. 60 IN A 198.51.100.23']);

      // ddclient's own cache skips a repeat; forced, it asks and the edge answers nochg.
      const again = await ddclient(['-force']);
      const againOut = again.stdout + again.stderr;
      expect(againOut).toContain('RECEIVE:  nochg 198.51.100.23');
      expect(againOut).toMatch(/updating alice\.localhost: nochg/);
      expect(edge.logs()).not.toContain(token);
    } finally {
      await edge.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
