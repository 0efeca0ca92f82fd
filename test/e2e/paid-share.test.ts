import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AcceptAnswer,
  OfferBody,
  PaymentRequired,
  SaleView,
  generateSigningKey,
  signStatement,
  verifyStatement,
  type AcceptanceBody,
  type SigningKeyPair,
} from '../../protocol/index.js';
import type { SearchResponse } from '../../protocol/search-api.js';
import { CHUNK_BYTES, SealedChunkChecker, chunkCount, commitPlain, decodeManifest, openChunk, sealedOffsetOfChunk, sealedSize } from '../../protocol/sealed-file.js';
import { eventually } from '../helpers/eventually.js';
import { queryRows } from '../helpers/test-databases.js';
import { runCli, spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { writeTokenFile } from '../helpers/token-file.js';
import { hostFor } from '../helpers/visitor.js';

/*
 * The seller's side of paid files the whole way, with nothing seeded: a real `udns share --list
 * --price` process (dist/: run `npx tsc -p tsconfig.build.json` first) lists its priced file
 * with price and Merkle root, refuses it in clear through the edge (402, ZIP, WebDAV), and
 * sells it: a buyer's purchase through the real edge's escrow reaches the agent's sale desk,
 * whose signed offer verifies with the seller's registered key, and the sealed file relayed by
 * the edge checks chunk by chunk and decrypts, after the signed acceptance, to the file.
 */
describe('udns share --list --price through the real edge', () => {
  let edge: TestEdge;
  let folder: string;
  let share: CliProcess | undefined;
  let bobToken: string;
  let bobKey: SigningKeyPair;
  let sellerEnv: NodeJS.ProcessEnv;
  let aliceTokenFile: string;
  const talk = crypto.randomBytes(2.5 * CHUNK_BYTES);
  const NAME = 'alice-talks';

  function visit(target: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: edge.edge.httpPort, path: target, method: options.method ?? 'GET', agent: false,
        headers: { host: hostFor(edge, NAME), ...options.headers },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function api<T>(method: string, route: string, token: string, body?: unknown): Promise<{ status: number; json: T }> {
    const answer = await fetch(`${edge.serverUrl}/api/v1${route}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: answer.status, json: await answer.json() as T };
  }

  beforeAll(async () => {
    edge = await startTestEdge();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-paid-share-'));
    fs.mkdirSync(path.join(folder, 'share', 'talks'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'share', 'talks', 'keynote.pdf'), talk);
    fs.writeFileSync(path.join(folder, 'share', 'talks', 'notes.txt'), 'free notes\n');
    const aliceToken = await edge.createAccount('alice');
    bobToken = await edge.createAccount('bob');
    // The buyer: a registered signing key and credits from the operator.
    bobKey = generateSigningKey();
    expect((await api('POST', '/keys', bobToken, { publicKey: bobKey.publicKey })).status).toBeLessThan(300);
    const granted = await api('POST', '/credits/grant', edge.adminToken, { to: 'bob', amount: 500, idempotencyKey: 'bob-welcome-grant' });
    expect(granted.status, JSON.stringify(granted.json)).toBe(200);
    // The seller's CLI makes and registers its signing key itself (its own config dir).
    sellerEnv = { UDNS_CONFIG: path.join(folder, 'alice', 'config.json'), XDG_CACHE_HOME: path.join(folder, 'cache') };
    aliceTokenFile = writeTokenFile(aliceToken);
    await startShare();
  });

  async function startShare(): Promise<void> {
    share = spawnCli([
      'share', path.join(folder, 'share'), '--name', NAME, '--list', '--webdav', '--allow-upload', '--price', 'talks/*.pdf=50',
      '--server', edge.serverUrl, '--token-file', aliceTokenFile,
    ], sellerEnv);
    await share.waitForOutput(/ -> /);
  }
  afterAll(async () => {
    share?.child.kill('SIGTERM');
    await edge?.close();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  test('--price without --list, or a bad rule, is refused before anything starts', async () => {
    const dir = path.join(folder, 'share');
    const noList = await runCli(['share', dir, '--price', 'talks/*.pdf=50', '--server', edge.serverUrl, '--token', 'x']);
    expect(noList.code).not.toBe(0);
    expect(noList.stderr).toContain('--price needs --list');
    const bad = await runCli(['share', dir, '--list', '--price', 'talks/*.pdf=0', '--server', edge.serverUrl, '--token', 'x']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/from 1 to/);
  });

  test('the priced file is listed with its price and Merkle root, and refused in clear through the edge', async () => {
    const plain = await commitPlain(path.join(folder, 'share', 'talks', 'keynote.pdf'));
    const hit = await eventually('the priced file in the results', async () => {
      const answer = await api<SearchResponse>('GET', '/search?q=keynote', bobToken);
      return answer.json.hits.find((found) => found.price === 50);
    }, { timeoutMs: 30_000, intervalMs: 200 });
    expect(hit).toMatchObject({ name: 'keynote.pdf', owner: 'alice', share: NAME, size: talk.length, sha256: plain.sha256, price: 50 });
    const free = await eventually('the free file hashed', async () => (await api<SearchResponse>('GET', '/search?q=notes', bobToken)).json.hits.find((found) => found.sha256 !== undefined && found.sha256 !== null));
    expect(free.price).toBeNull();
    const rows = await queryRows({ dialect: 'sqlite', file: path.join(edge.dataDir, 'udns.db') },
      `SELECT f."price", f."merkleRoot" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = '${NAME}' AND f."path" = '/talks/keynote.pdf'`);
    expect(rows.map((row) => [Number(row[0]), row[1]])).toEqual([[50, plain.root]]);

    // A clear GET or HEAD through the edge: 402 with the command that buys it.
    const clear = await visit('/talks/keynote.pdf');
    expect(clear.status).toBe(402);
    const body = PaymentRequired.parse(JSON.parse(clear.body.toString()));
    expect(body.price).toBe(50);
    expect(body.error.message).toContain(`udns get http://${hostFor(edge, NAME)}/talks/keynote.pdf`);
    expect((await visit('/talks/keynote.pdf', { method: 'HEAD' })).headers['x-udns-price']).toBe('50');
    expect((await visit('/talks/keynote.pdf?checksum=sha256')).status).toBe(402);
    expect((await visit('/talks/notes.txt')).status).toBe(200);
    // The folder's ZIP leaves it out.
    const zip = await visit('/talks/?zip');
    expect(zip.status).toBe(200);
    const zipFile = path.join(folder, 'talks.zip');
    fs.writeFileSync(zipFile, zip.body);
    expect(execFileSync('unzip', ['-Z1', zipFile], { encoding: 'utf8' }).trim().split('\n')).toEqual(['notes.txt']);
    // WebDAV: a GET is the same 402, and a copy to a name without a price is refused.
    expect((await visit('/talks/keynote.pdf', { headers: { 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0' } })).status).toBe(402);
    expect((await visit('/talks/keynote.pdf', { method: 'COPY', headers: { destination: `http://${hostFor(edge, NAME)}/free.pdf` } })).status).toBe(402);
    expect((await visit('/free.pdf')).status).toBe(404);
    // The listing page shows the price.
    expect((await visit('/talks/', { headers: { accept: 'text/html' } })).body.toString()).toContain('50 credits');
    // A sale this agent never offered.
    expect((await visit(`/talks/keynote.pdf?sale=${'ab'.repeat(16)}`)).status).toBe(404);
  });

  test('a purchase through the escrow: the agent offers (signed, verifiable), the relayed sealed file checks and decrypts to the file', async () => {
    await eventually('the priced file listed', async () => (await api<SearchResponse>('GET', '/search?q=keynote', bobToken)).json.hits.find((found) => found.price === 50), { timeoutMs: 30_000, intervalMs: 200 });
    const url = `http://${hostFor(edge, NAME)}/talks/keynote.pdf`;
    const started = await api<unknown>('POST', '/purchases', bobToken, { url, maxPrice: 50, idempotencyKey: 'bob-buys-keynote-1' });
    expect(started.status, JSON.stringify(started.json)).toBe(200);
    let sale = SaleView.parse(started.json);
    while (sale.state === 'offering') {
      sale = SaleView.parse((await api<unknown>('GET', `/purchases/${sale.id}?wait=20000&state=offering`, bobToken)).json);
    }
    expect(sale.state, JSON.stringify(sale)).toBe('reserved');
    const offer = OfferBody.parse(sale.offer!.body);
    const keyFile = path.join(folder, 'alice', 'signing-key.pem');
    expect(fs.existsSync(keyFile)).toBe(true);
    const { signingKeyFromPem } = await import('../../protocol/signing.js');
    const alice = signingKeyFromPem(fs.readFileSync(keyFile, 'utf8'));
    expect(verifyStatement(sale.offer!, 'offer', alice.publicKey)).toBe(true);
    expect(offer).toMatchObject({ seller: 'alice', buyer: 'bob', share: NAME, path: '/talks/keynote.pdf', price: 50, size: talk.length });

    const manifest = decodeManifest((await visit(`/talks/keynote.pdf?sale=${sale.id}&manifest=1`)).body)!;
    expect(manifest.cipherLeaves).toHaveLength(3);
    const sealed = await visit(`/talks/keynote.pdf?sale=${sale.id}`);
    expect(sealed.status).toBe(200);
    expect(sealed.body.length).toBe(sealedSize(talk.length));
    expect(sealed.headers.etag).toBe(`"${offer.cipherRoot}"`);
    const checker = new SealedChunkChecker(talk.length, manifest.cipherLeaves);
    checker.push(sealed.body);
    checker.finish();

    const acceptance: AcceptanceBody = { v: 1, saleId: sale.id, buyer: 'bob', cipherRoot: offer.cipherRoot, offerSignature: sale.offer!.signature, acceptedAt: Date.now() };
    const accepted = await api<unknown>('POST', `/purchases/${sale.id}/accept`, bobToken, { acceptance: signStatement('acceptance', acceptance, bobKey) });
    expect(accepted.status, JSON.stringify(accepted.json)).toBe(200);
    const { key } = AcceptAnswer.parse(accepted.json);
    const count = chunkCount(talk.length);
    const plain = Buffer.concat(Array.from({ length: count }, (_, index) => openChunk(Buffer.from(key, 'hex'), sale.id, index, count,
      sealed.body.subarray(sealedOffsetOfChunk(talk.length, index), sealedOffsetOfChunk(talk.length, index + 1)))!));
    expect(plain.equals(talk)).toBe(true);
  });

  test('a restarted seller agent serves a reserved sale again with the same ciphertext (the key is derived, not stored)', async () => {
    await eventually('the priced file listed', async () => (await api<SearchResponse>('GET', '/search?q=keynote', bobToken)).json.hits.find((found) => found.price === 50), { timeoutMs: 30_000, intervalMs: 200 });
    const url = `http://${hostFor(edge, NAME)}/talks/keynote.pdf`;
    let sale = SaleView.parse((await api<unknown>('POST', '/purchases', bobToken, { url, maxPrice: 50, idempotencyKey: 'bob-buys-keynote-restart' })).json);
    while (sale.state === 'offering') sale = SaleView.parse((await api<unknown>('GET', `/purchases/${sale.id}?wait=20000&state=offering`, bobToken)).json);
    expect(sale.state).toBe('reserved');
    const before = await visit(`/talks/keynote.pdf?sale=${sale.id}`);
    expect(before.status).toBe(200);

    share!.child.kill('SIGTERM');
    await share!.exited;
    await startShare();
    // The edge asks the new agent for the reserved sale again; it derives the same key.
    const after = await eventually('the sale served by the restarted agent', async () => {
      const answer = await visit(`/talks/keynote.pdf?sale=${sale.id}`);
      return answer.status === 200 ? answer : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    expect(after.headers.etag).toBe(before.headers.etag);
    expect(after.body.equals(before.body)).toBe(true);
    expect((await api<unknown>('POST', `/purchases/${sale.id}/cancel`, bobToken)).status).toBe(200);
  });
});
