import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { AcceptAnswer, SaleView, signStatement, type SaleProof } from '../../protocol/index.js';
import { inclusionProof, leafHash } from '../../protocol/merkle.js';
import { CHUNK_BYTES, SEAL_TAG_BYTES, decodeManifest } from '../../protocol/sealed-file.js';
import { ensureSigningKey, loadSigningKey } from '../../cli/signing-key.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { apiCall } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { findPostgresBinaries, requirePostgresInCi, startPostgresBackend, type TestBackend } from '../helpers/test-databases.js';

/*
 * Issue 11, the buyer's side end to end: the real edge (escrow, credits, ledger) in this
 * process, a real seller agent sharing a listed folder with a price, and the real `udns get`
 * CLI as a process (run `npx tsc -p tsconfig.build.json` first) buying the file over each
 * transfer path, with a tampering proxy in flight, and a buyer who lies in a proof.
 */

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const PRICE = 50;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * A TCP proxy in front of the edge's HTTP port that flips one byte of the first answer longer
 * than `flipAfter` bytes (the sealed file; HEADs, 402s and the manifest are shorter).
 */
async function tamperingProxy(target: number, flipAfter: number): Promise<{ port: number; flipped(): number; close(): void }> {
  let flipped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    let passed = 0;
    upstream.on('data', (chunk: Buffer) => {
      passed += chunk.length;
      if (flipped === 0 && passed > flipAfter) {
        chunk = Buffer.from(chunk);
        chunk[chunk.length - 1]! ^= 0x01;
        flipped++;
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    flipped: () => flipped,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** GET of a share URL on the loopback edge (`*.localhost` names are 127.0.0.1), the whole body. */
function getFromShare(url: string): Promise<Buffer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: target.port, path: `${target.pathname}${target.search}`, headers: { host: target.host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${url}: ${res.statusCode}`))));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('buying a paid file with udns get, on %s', (dialect) => {
  let backend: TestBackend | undefined;
  let edge: TestEdge;
  let work: string;
  let agent: Agent;
  let fileUrl: string;
  let original: Buffer;
  let aliceToken: string;
  let bobToken: string;
  let outputs = 0;
  const buyerEnv = (): NodeJS.ProcessEnv => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: bobToken, UDNS_CONFIG: path.join(work, 'bob.json') });
  const outFile = (): string => path.join(work, `out-${++outputs}`, 'talk.pdf');
  const balance = async (token: string): Promise<{ available: number; held: number }> => {
    const answer = await apiCall(edge, token, 'GET', '/credits');
    expect(answer.status).toBe(200);
    return { available: answer.body.available, held: answer.body.held };
  };
  const workFilesOf = (out: string): string[] => ['.udns-sale.json', '.sealed.part', '.part'].map((suffix) => `${out}${suffix}`).filter((file) => fs.existsSync(file));

  beforeAll(async () => {
    let databaseUrl: string | undefined;
    if (dialect === 'postgresql') {
      backend = await startPostgresBackend(pgBin!);
      databaseUrl = (await backend.fresh()).databaseUrl;
    }
    edge = await startTestEdge(databaseUrl === undefined ? {} : { databaseUrl });
    const store = await openAccountStore({ dataDir: edge.dataDir, databaseUrl });
    try {
      aliceToken = (await store.createAccount('alice')).token;
      bobToken = (await store.createAccount('bob')).token;
    } finally {
      await store.close();
    }
    const granted = await apiCall(edge, edge.adminToken, 'POST', '/credits/grant', { to: 'bob', amount: 1000, idempotencyKey: 'bob-welcome' });
    expect(granted.status).toBeLessThan(300);

    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-purchase-'));
    const shared = path.join(work, 'talks');
    fs.mkdirSync(shared);
    // Two and a half chunks: a short last chunk and an odd Merkle tree.
    original = randomBytes(CHUNK_BYTES * 2 + CHUNK_BYTES / 2);
    fs.writeFileSync(path.join(shared, 'talk.pdf'), original);
    fs.writeFileSync(path.join(shared, 'free.txt'), 'free\n');
    const { pair } = await ensureSigningKey({ UDNS_CONFIG: path.join(work, 'alice.json') }, { server: edge.serverUrl, token: aliceToken, trust: { insecure: false } });
    agent = await startAgent({
      serverUrl: edge.serverUrl, token: aliceToken, signingKey: pair,
      routes: [{ kind: 'share', dir: shared, name: `alice-talks-${dialect === 'sqlite' ? 's' : 'p'}`, list: true, prices: [{ glob: '*.pdf', price: PRICE }] }],
    });
    fileUrl = `${agent.routes[0]!.url}/talk.pdf`;
    // Listed with its price and root once hashed; the edge probes the transfer port meanwhile.
    await eventually('the paid file in the members\' index with its price', async () => {
      const hits = (await apiCall(edge, bobToken, 'GET', '/search?q=talk')).body.hits as Array<{ url: string; price?: number | null }> | undefined;
      return hits?.some((hit) => hit.url === fileUrl && hit.price === PRICE) ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 });
  }, 120_000);

  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    await backend?.cleanup();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the share refuses the clear file (402); without a terminal or --pay-up-to nothing is bought and the fix is named', async () => {
    const before = await balance(bobToken);
    const out = outFile();
    const result = await runCli(['get', fileUrl, '-o', out, '--no-progress'], buyerEnv());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/costs 50 credits.*--pay-up-to 50/);
    expect(fs.existsSync(out)).toBe(false);
    expect(workFilesOf(out)).toEqual([]);
    expect(await balance(bobToken)).toEqual(before);
    // Less than the price: refused before any sale.
    const cheap = await runCli(['get', fileUrl, '-o', out, '--no-progress', '--pay-up-to', '49'], buyerEnv());
    expect(cheap.code).not.toBe(0);
    expect(cheap.stderr).toMatch(/costs 50 credits, more than --pay-up-to 49/);
    expect(await balance(bobToken)).toEqual(before);
  });

  test.each(['relay', 'direct', 'push'] as const)('a full purchase via %s: the original bytes, credits moved to the seller\'s held balance, a receipt that verifies offline', async (via) => {
    const buyerBefore = await balance(bobToken);
    const sellerBefore = await balance(aliceToken);
    const out = outFile();
    const result = await runCli(['get', fileUrl, '-o', out, '--no-progress', '--pay-up-to', String(PRICE), '--via', via], buyerEnv());
    expect(result.stderr).toMatch(new RegExp(`udns: transferred via ${via}\n$`));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^bought .*talk\.pdf for 50 credits from alice /);
    expect(result.stdout).toMatch(/udns receipt verify/);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(original));
    expect(workFilesOf(out)).toEqual([]);
    expect(await balance(bobToken)).toEqual({ available: buyerBefore.available - PRICE, held: buyerBefore.held });
    expect(await balance(aliceToken)).toEqual({ available: sellerBefore.available, held: sellerBefore.held + PRICE });

    const edgeKey = (await apiCall(edge, bobToken, 'GET', '/ledger/key')).body.publicKey as string;
    const verified = await runCli(['receipt', 'verify', `${out}.receipt.json`, '--edge-key', edgeKey]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^receipt OK: sale [0-9a-f]{32}: bob paid 50 credits to alice for alice-talks-.\/talk\.pdf/);
    expect(verified.stdout).toMatch(/talk\.pdf: SHA-256 matches the offer/);
    // Another edge key: refused.
    const other = await runCli(['receipt', 'verify', `${out}.receipt.json`, '--edge-key', Buffer.alloc(32, 7).toString('base64')]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/does not verify: the edge's signature/);
  });

  test('a byte flipped in flight: the download stops at that chunk, the sale is cancelled, nothing paid, nothing kept', async () => {
    const proxy = await tamperingProxy(edge.edge.httpPort, CHUNK_BYTES + CHUNK_BYTES / 2);
    try {
      const before = await balance(bobToken);
      const sellerBefore = await balance(aliceToken);
      const url = new URL(fileUrl);
      url.port = String(proxy.port);
      const out = outFile();
      const result = await runCli(['get', url.href, '-o', out, '--no-progress', '--pay-up-to', String(PRICE), '--via', 'relay'], buyerEnv());
      expect(proxy.flipped()).toBe(1);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/chunk 1 of the sealed file does not match the seller's commitment: refused, nothing paid \(cancelled sale [0-9a-f]{32}, your 50 credits are back\); nothing was kept/);
      expect(fs.existsSync(out)).toBe(false);
      expect(workFilesOf(out)).toEqual([]);
      expect(await balance(bobToken)).toEqual(before);
      expect(await balance(aliceToken)).toEqual(sellerBefore);
    } finally {
      proxy.close();
    }
  });

  test('a buyer who lies in a proof is refused and nothing changes (API level)', async () => {
    const out = outFile();
    const result = await runCli(['get', fileUrl, '-o', out, '--no-progress', '--pay-up-to', String(PRICE), '--via', 'relay', '--json'], buyerEnv());
    expect(result.code).toBe(0);
    const sale = SaleView.parse(JSON.parse(result.stdout).sale);
    expect(sale.state).toBe('released');
    const buyerAfter = await balance(bobToken);
    const sellerAfter = await balance(aliceToken);

    // The sealed copy and its manifest are still served while the dispute window is open.
    const saleUrl = `${fileUrl}?sale=${sale.id}`;
    const manifest = decodeManifest(await getFromShare(`${saleUrl}&manifest=1`))!;
    const sealed = await getFromShare(saleUrl);
    const chunk = sealed.subarray(CHUNK_BYTES + SEAL_TAG_BYTES, 2 * (CHUNK_BYTES + SEAL_TAG_BYTES));
    expect(leafHash(chunk).equals(manifest.cipherLeaves[1]!)).toBe(true);
    const hex = (nodes: Buffer[]): string[] => nodes.map((node) => node.toString('hex'));
    const honest: SaleProof = {
      index: 1, cipherChunk: chunk.toString('base64'), cipherPath: hex(inclusionProof(manifest.cipherLeaves, 1)),
      plainLeaf: manifest.plainLeaves[1]!.toString('hex'), plainPath: hex(inclusionProof(manifest.plainLeaves, 1)),
    };
    const lies: Array<[string, SaleProof]> = [
      // The genuine chunk: it decrypts to what the listing promised.
      ['a chunk that is fine', honest],
      // A chunk the seller never sent (not in the cipher tree).
      ['a made-up chunk', { ...honest, cipherChunk: Buffer.from(chunk).fill(1).toString('base64') }],
      // Another plain leaf than the listing's at that place.
      ['another promised leaf', { ...honest, plainLeaf: 'ab'.repeat(32) }],
      // The right chunk at the wrong index.
      ['a chunk at another place', { ...honest, index: 0 }],
    ];
    for (const [what, proof] of lies) {
      const answer = await apiCall(edge, bobToken, 'POST', `/purchases/${sale.id}/dispute`, proof);
      expect({ what, status: answer.status, code: answer.body.error?.code }).toEqual({ what, status: 422, code: 'proof_rejected' });
    }
    // Someone else's sale cannot be disputed at all.
    const stranger = await apiCall(edge, aliceToken, 'POST', `/purchases/${sale.id}/dispute`, honest);
    expect(stranger.status).toBeGreaterThanOrEqual(400);
    expect((await apiCall(edge, bobToken, 'GET', `/purchases/${sale.id}`)).body.state).toBe('released');
    expect(await balance(bobToken)).toEqual(buyerAfter);
    expect(await balance(aliceToken)).toEqual(sellerAfter);
    // Accepting again gives the same receipt (a buyer that crashed after the commit resumes).
    const pair = loadSigningKey(buyerEnv())!;
    const offer = sale.offer!;
    const acceptance = signStatement('acceptance', { v: 1, saleId: sale.id, buyer: 'bob', cipherRoot: (offer.body as { cipherRoot: string }).cipherRoot, offerSignature: offer.signature, acceptedAt: Date.now() }, pair);
    const again = await apiCall(edge, bobToken, 'POST', `/purchases/${sale.id}/accept`, { acceptance });
    expect(again.status).toBe(200);
    expect(AcceptAnswer.parse(again.body).receipt).toEqual(JSON.parse(result.stdout).receipt);
    expect(await balance(bobToken)).toEqual(buyerAfter);
  });
});
