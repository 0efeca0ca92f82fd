import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { TransferList, type TransferRecordView } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { HostileMuxAgent } from '../helpers/hostile-agent.js';
import { runCli } from '../helpers/test-agent.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { openTransferLog } from '../../server/transfers/transfer-log.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('transfer records through the real edge and a real share agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let work: string;
  let shared: string;
  let base: string;
  let aliceToken: string;
  let bobToken: string;
  let malloryToken: string;
  const as = (token: string) => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: token });

  async function transfers(token: string, query: string): Promise<TransferRecordView[]> {
    const res = await fetch(`${edge.serverUrl}/api/v1/transfers?${query}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return TransferList.parse(await res.json()).transfers;
  }

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-records-e2e-'));
    shared = path.join(work, 'shared');
    fs.mkdirSync(shared);
    fs.writeFileSync(path.join(shared, 'report.bin'), randomBytes(3 * MiB + 17));
    fs.writeFileSync(path.join(shared, 'big.bin'), randomBytes(64 * MiB));
    edge = await startTestEdge();
    aliceToken = await edge.createAccount('alice');
    bobToken = await edge.createAccount('bob');
    malloryToken = await edge.createAccount('mallory');
    // No direct or push transfers: bob's logged-in udns get is granted the relay by the edge,
    // which is how the edge learns that the relayed download is his.
    agent = await startAgent({ serverUrl: edge.serverUrl, token: aliceToken, transport: 'raw', noTransfers: true, routes: [{ kind: 'share', dir: shared, name: 'alice-files' }] });
    base = agent.routes[0]!.url;
  }, 60_000);
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('udns get through the edge: one relay record with the edge\'s byte count, the SHA-256 and bob as receiver; udns transfers shows it to both', async () => {
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    const got = await runCli(['get', `${base}/report.bin`, '-o', `${out}/`], as(bobToken));
    expect(got.stderr).not.toMatch(/error/i);
    expect(got.code).toBe(0);
    const content = fs.readFileSync(path.join(shared, 'report.bin'));

    const [record, ...more] = await eventually('the relay record', async () => {
      const rows = await transfers(aliceToken, 'role=sent&kind=files');
      return rows.length > 0 && rows[0]!.sha256 !== null ? rows : undefined;
    });
    expect(more).toEqual([]);
    expect(record).toMatchObject({
      share: 'alice-files', path: '/report.bin', size: content.length, offset: 0, bytes: content.length, sha256: sha256(content),
      owner: 'alice', receiver: 'bob', receiverNetwork: null, via: 'relay', outcome: 'complete', reportedBy: 'edge',
    });
    expect(Date.parse(record!.endedAt)).toBeGreaterThanOrEqual(Date.parse(record!.startedAt));
    // The connection itself is an http record (bytes only), listed with kind=http.
    expect((await transfers(aliceToken, 'role=sent&kind=http')).length).toBeGreaterThan(0);

    const sent = await runCli(['transfers', '--sent'], as(aliceToken));
    expect(sent.code).toBe(0);
    const lines = sent.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WHEN +WHAT +SIZE +PEER +VIA +OUTCOME$/);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d +alice-files\/report\.bin +3\.0 MiB +→ bob +relay +complete$/);

    const received = await runCli(['transfers', '--received', '--json'], as(bobToken));
    expect(received.code).toBe(0);
    const list = TransferList.parse(JSON.parse(received.stdout));
    expect(list.role).toBe('received');
    expect(list.transfers.map((row) => [row.path, row.owner, row.receiver, row.bytes])).toEqual([['/report.bin', 'alice', 'bob', content.length]]);
    const bobTable = await runCli(['transfers'], as(bobToken));
    expect(bobTable.stdout).toMatch(/alice-files\/report\.bin +3\.0 MiB +← alice +relay +complete/);
    // Nothing was received by alice, and mallory sees none of it.
    expect((await runCli(['transfers', '--received'], as(aliceToken))).stdout).toBe('you have not fetched any shared file yet\n');
    expect(await transfers(malloryToken, 'role=all')).toEqual([]);
  }, 60_000);

  test('regression: udns get --via relay by a logged-in member is recorded as his, not as an anonymous network', async () => {
    const content = randomBytes(256 * 1024 + 3);
    fs.writeFileSync(path.join(shared, 'forced.bin'), content);
    const out = path.join(work, 'out-forced');
    fs.mkdirSync(out);
    const got = await runCli(['get', `${base}/forced.bin`, '-o', `${out}/`, '--via', 'relay'], as(bobToken));
    expect(got.stderr).not.toMatch(/error|not record/i);
    expect(got.code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'forced.bin')).equals(content)).toBe(true);
    const record = await eventually('the forced relay record', async () =>
      (await transfers(aliceToken, 'role=sent&kind=files')).find((row) => row.path === '/forced.bin'));
    expect(record).toMatchObject({ share: 'alice-files', owner: 'alice', receiver: 'bob', receiverNetwork: null, via: 'relay', outcome: 'complete', bytes: content.length });
  }, 60_000);

  test('a direct or push download is recorded from the sharer agent\'s report for the ticket the edge issued', async () => {
    const direct = await startAgent({ serverUrl: edge.serverUrl, token: aliceToken, transport: 'raw', routes: [{ kind: 'share', dir: shared, name: 'alice-direct' }] });
    try {
      const out = path.join(work, 'out-direct');
      fs.mkdirSync(out);
      const got = await runCli(['get', `${direct.routes[0]!.url}/report.bin`, '-o', `${out}/`], as(bobToken));
      expect(got.code).toBe(0);
      const size = fs.statSync(path.join(shared, 'report.bin')).size;
      const record = await eventually('the agent-reported record', async () =>
        (await transfers(bobToken, 'role=received&kind=files')).find((row) => row.share === 'alice-direct'));
      // Direct when the sharer's port answered the edge's probe in time, else push: never relay.
      expect(['direct', 'push']).toContain(record.via);
      expect(record).toMatchObject({ path: '/report.bin', owner: 'alice', receiver: 'bob', reportedBy: 'agent', bytes: size, outcome: 'complete' });
    } finally {
      direct.stop();
    }
  }, 60_000);

  test('a download cut off by the visitor is a partial record of what the edge carried, from an anonymous network', async () => {
    const before = (await transfers(aliceToken, 'role=sent&kind=files')).length;
    const size = 64 * MiB;
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: '/big.bin', agent: false, headers: { host: hostFor(edge, 'alice-files') } }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= 2 * MiB) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (error) => (received >= 2 * MiB ? undefined : reject(error)));
    });
    const record = await eventually('the partial record', async () => {
      const rows = await transfers(aliceToken, 'role=sent&kind=files');
      return rows.length > before ? rows[0] : undefined;
    });
    expect(record).toMatchObject({ path: '/big.bin', size, offset: 0, via: 'relay', outcome: 'partial', receiver: null, receiverNetwork: '127.0.0.0/24', sha256: null });
    expect(record.bytes).toBeGreaterThanOrEqual(received);
    expect(record.bytes).toBeLessThan(size);
  }, 60_000);

  test('a hostile agent\'s forged reports are refused and record nothing; garbage ends only its own tunnel', async () => {
    const hostile = await HostileMuxAgent.connect(edge.serverUrl, malloryToken);
    try {
      await hostile.hello();
      const registered = await hostile.register(1, 'mallory-share');
      expect(registered.type).toBe('routeRegistered');
      const routeId = String(registered.routeId);
      const report = (extra: Record<string, unknown>) => ({
        type: 'transferReport', reportId: randomBytes(12).toString('base64url'), routeId, streamId: 1, path: '/movie.mkv',
        size: 1_000_000_000, offset: 0, bytes: 1_000_000_000, outcome: 'complete', startedAt: Date.now() - 1000, endedAt: Date.now(), ...extra,
      });
      const refusal = async (message: ReturnType<typeof report>) => {
        hostile.send(message);
        return hostile.waitFor('transferReportRefused', (m) => m.reportId === message.reportId);
      };

      // A stream the edge never carried.
      expect(await refusal(report({ streamId: 99 }))).toMatchObject({ code: 'not_found' });

      // A real visitor stream on mallory's tunnel, answered with 5 body bytes.
      let streamId = 0;
      hostile.onVisitor = (stream) => {
        streamId = stream.id!;
        stream.respond({ ':status': 200 });
        stream.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
      };
      expect((await visit(edge, 'mallory-share', '/movie.mkv')).body).toBe('hello');
      // Another account's share (alice's route id is not on this tunnel), or a report that does not add up.
      expect(await refusal(report({ streamId, routeId: 'r-not-mallorys' }))).toMatchObject({ code: 'bad_request' });
      expect(await refusal(report({ streamId, offset: 10, bytes: 1_000_000_000 }))).toMatchObject({ code: 'bad_request' });
      expect((await transfers(malloryToken, 'role=sent&kind=files'))).toEqual([]);

      // Claiming a gigabyte over that stream: recorded with what the edge carried, not the claim.
      hostile.send(report({ streamId }));
      const capped = await eventually('the capped record', async () => (await transfers(malloryToken, 'role=sent&kind=files'))[0]);
      expect(capped.bytes).toBeLessThan(100);
      expect(capped).toMatchObject({ owner: 'mallory', share: 'mallory-share', outcome: 'partial' });

      // Garbage: a protocol error for this tunnel alone.
      hostile.send({ type: 'transferReport', reportId: 'x', bytes: -1 });
      await hostile.closed;
    } finally {
      hostile.destroy();
    }
    expect((await transfers(malloryToken, 'role=sent&kind=files'))).toHaveLength(1);
    // The edge and alice's share are fine.
    expect((await visit(edge, 'alice-files', '/report.bin', { method: 'HEAD' })).status).toBe(200);
  }, 60_000);

  test('udns transfers --verify: the admin checks the whole chain; a member may not', async () => {
    const verified = await runCli(['transfers', '--verify'], as(edge.adminToken));
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toMatch(/^\d+ records, chain intact; head [0-9a-f]{64}\n$/);
    const json = await runCli(['transfers', '--verify', '--json'], as(edge.adminToken));
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, records: expect.any(Number) });
    const refused = await runCli(['transfers', '--verify'], as(bobToken));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/only the admin account verifies/);
  }, 60_000);
});

describe('transfer records on shutdown', () => {
  test('what the buffered writer still holds is written when the edge stops', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-records-stop-'));
    fs.writeFileSync(path.join(work, 'a.txt'), 'abc');
    const edge = await startTestEdge();
    const token = await edge.createAccount('carol');
    const agent = await startAgent({ serverUrl: edge.serverUrl, token, transport: 'raw', noTransfers: true, routes: [{ kind: 'share', dir: work, name: 'carol-files' }] });
    try {
      // Stopped at once: the connection's http record is at most queued (the writer waits up to a second).
      expect((await visit(edge, 'carol-files', '/a.txt', { headers: { connection: 'close' } })).body).toBe('abc');
      // Whether or not the edge saw the stream close yet: closing the tunnel finishes its streams' records.
    } finally {
      agent.stop();
      await edge.close();
    }
    const store = await openAccountStore({ dataDir: edge.dataDir });
    const log = openTransferLog(store);
    try {
      const rows = await log.list({ role: 'all', limit: 10 });
      expect(rows.map((row) => row.via)).toContain('http');
      expect((await log.verifyChain()).ok).toBe(true);
    } finally {
      await log.close();
      await store.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});
