import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { AcceptAnswer, INDEX_BUCKETS, SaleView, bucketDigestsHex, bucketOf, entryDigest, signStatement, type IndexEntry, type SaleProof, type SigningKeyPair } from '../../protocol/index.js';
import { inclusionProof, leafHash } from '../../protocol/merkle.js';
import { CHUNK_BYTES, SEAL_TAG_BYTES, commitPlain, commitSealed, decodeManifest, encodeManifest, keyHash, sealedStream } from '../../protocol/sealed-file.js';
import { ensureSigningKey, loadSigningKey } from '../../cli/signing-key.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { apiCall } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { HostileMuxAgent } from '../helpers/hostile-agent.js';
import { runCli, spawnOnTerminal } from '../helpers/test-agent.js';
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
async function tamperingProxy(target: number, flipAfter: number, mode: 'flip' | 'cut' = 'flip'): Promise<{ port: number; flipped(): number; close(): void }> {
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
      if (flipped === 0 && passed > flipAfter && mode === 'cut') {
        flipped++;
        client.destroy();
        upstream.destroy();
        return;
      }
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

/**
 * A dishonest seller: a tunnel that lists `listed` (its SHA-256, Merkle root and a price, as an
 * honest agent would) but, when a sale comes, seals `sealed` instead (same size) and commits to
 * that ciphertext in its signed offer and manifest, with the listing's plain leaves beside it.
 * Everything it sends checks out until the buyer decrypts.
 */
async function startDishonestSeller(serverUrl: string, token: string, pair: SigningKeyPair, account: string, label: string, listed: string, sealed: string): Promise<HostileMuxAgent> {
  const agent = await HostileMuxAgent.connect(serverUrl, token);
  await agent.hello();
  const registered = await agent.register(1, label);
  if (registered.type !== 'routeRegistered') throw new Error(`route refused: ${JSON.stringify(registered)}`);
  const routeId = String(registered.routeId);
  const plain = await commitPlain(listed);
  const entry: IndexEntry = { path: '/talk.pdf', size: plain.size, mtime: Date.now() - 60_000, type: 'application/pdf', sha256: plain.sha256, price: PRICE, merkleRoot: plain.root };
  const digests = new Uint32Array(INDEX_BUCKETS);
  digests[bucketOf(entry.path)] = entryDigest(entry);
  agent.send({ type: 'listShare', requestId: 2, routeId, locked: false, summary: { entries: 1, digests: bucketDigestsHex(digests) } });
  const wanted = await agent.waitFor('indexWanted');
  agent.send({ type: 'indexBatch', routeId, seq: 0, reset: wanted.buckets, upserts: [entry], removes: [] });
  await agent.waitFor('indexAck', (m) => m.seq === 0);
  const sales = new Map<string, { key: Buffer; manifest: Buffer }>();
  const answered = new Set<string>();
  const timer = setInterval(() => {
    for (const message of agent.messages) {
      if (message.type !== 'saleRequested' || answered.has(String(message.saleId))) continue;
      const saleId = String(message.saleId);
      answered.add(saleId);
      const key = randomBytes(32);
      void commitSealed(sealed, key, saleId).then((commitment) => {
        sales.set(saleId, { key, manifest: encodeManifest(commitment.cipherLeaves, plain.leaves) });
        const offer = signStatement('offer', {
          v: 1, saleId, seller: account, buyer: String(message.buyer), share: label, path: '/talk.pdf', size: plain.size, price: PRICE,
          chunkBytes: CHUNK_BYTES, plainSha256: plain.sha256, plainRoot: plain.root, cipherRoot: commitment.cipherRoot, keyHash: keyHash(key), offeredAt: Date.now(),
        }, pair);
        agent.send({ type: 'saleOffered', saleId, offer, key: key.toString('hex') });
      });
    }
  }, 50);
  void agent.closed.then(() => clearInterval(timer));
  // Visitor streams carry HTTP/1.1: a 402 for the clear file, the manifest and the sealed file by sale id.
  agent.onVisitor = (stream) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      stream.off('data', onData);
      const [method, target] = head.split(' ');
      const url = new URL(target ?? '/', 'http://seller');
      stream.respond({ ':status': 200 });
      const sale = sales.get(url.searchParams.get('sale') ?? '');
      const answer = (status: string, headers: string[], body?: Buffer | NodeJS.ReadableStream, length = 0): void => {
        stream.write(`HTTP/1.1 ${status}\r\n${[...headers, `Content-Length: ${length}`, 'Connection: close'].join('\r\n')}\r\n\r\n`);
        if (body === undefined || method === 'HEAD') stream.end();
        else if (Buffer.isBuffer(body)) stream.end(body);
        else body.pipe(stream);
      };
      if (sale === undefined) {
        const body = Buffer.from(JSON.stringify({ error: { code: 'payment_required', message: 'costs 50 credits' }, price: PRICE, url: '', path: '/talk.pdf' }));
        answer('402 Payment Required', ['Content-Type: application/json', `X-Udns-Price: ${PRICE}`], body, body.length);
      } else if (url.searchParams.get('manifest') === '1') {
        answer('200 OK', ['Content-Type: application/octet-stream'], sale.manifest, sale.manifest.length);
      } else {
        const size = fs.statSync(sealed).size;
        answer('200 OK', ['Content-Type: application/octet-stream'], sealedStream(sealed, sale.key, String(url.searchParams.get('sale')), size), size + Math.ceil(size / CHUNK_BYTES) * SEAL_TAG_BYTES);
      }
    };
    stream.on('data', onData);
  };
  return agent;
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

  let databaseUrl: string | undefined;
  beforeAll(async () => {
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

  // Every path on SQLite; on PostgreSQL the relay (the paths differ in the network, not in the
  // escrow's transactions), so the suite stays inside CI's 15 minutes.
  test.each(dialect === 'sqlite' ? (['relay', 'direct', 'push'] as const) : (['relay'] as const))('a full purchase via %s: the original bytes, credits moved to the seller\'s held balance, a receipt that verifies offline', async (via) => {
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

  test('a download cut short: the same command again resumes the same sale from the part (paid once); udns login makes the key', async () => {
    const proxy = await tamperingProxy(edge.edge.httpPort, CHUNK_BYTES + CHUNK_BYTES / 2, 'cut');
    try {
      const before = await balance(bobToken);
      const url = new URL(fileUrl);
      url.port = String(proxy.port);
      const out = outFile();
      const args = ['get', url.href, '-o', out, '--no-progress', '--pay-up-to', String(PRICE), '--via', 'relay', '--retries', '0'];
      const first = await runCli(args, buyerEnv());
      expect(proxy.flipped()).toBe(1);
      expect(first.code).toBe(1);
      expect(first.stderr).toMatch(/run the same command again to resume/);
      const saved = JSON.parse(fs.readFileSync(`${out}.udns-sale.json`, 'utf8')) as { saleId: string };
      expect((await apiCall(edge, bobToken, 'GET', `/purchases/${saved.saleId}`)).body.state).toBe('reserved');
      expect(fs.existsSync(`${out}.sealed.part`)).toBe(true);
      const second = await runCli(args, buyerEnv());
      expect(second.code).toBe(0);
      expect(second.stderr).toMatch(new RegExp(`resuming sale ${saved.saleId.slice(0, 8)}… \\(reserved\\)`));
      expect(second.stdout).toMatch(/for 50 credits from alice .*resumed at /);
      expect(sha256(fs.readFileSync(out))).toBe(sha256(original));
      expect(JSON.parse(fs.readFileSync(`${out}.receipt.json`, 'utf8')).receipt.body.saleId).toBe(saved.saleId);
      expect(await balance(bobToken)).toEqual({ available: before.available - PRICE, held: 0 });
    } finally {
      proxy.close();
    }
    // udns login makes and registers a signing key, and says so in one line.
    const fresh = { UDNS_CONFIG: path.join(work, 'fresh-login.json') };
    const login = await runCli(['login', bobToken, '--server', edge.serverUrl], fresh);
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(/\nmade a signing key \(.*fresh-login\.signing-key\.pem\) and registered it with the edge \(key [0-9a-f]{16}…\)\n$/);
    const keys = (await apiCall(edge, aliceToken, 'GET', '/keys/bob')).body.keys as Array<{ keyId: string }>;
    expect(keys).toHaveLength(2);
    const again = await runCli(['login', bobToken, '--server', edge.serverUrl], fresh);
    expect(again.stdout).toMatch(/already registered with the edge/);
  });

  test('on a terminal udns get asks before paying: no buys nothing, yes buys', async () => {
    const before = await balance(bobToken);
    const ask = async (answer: string): Promise<{ code: number | null; output: string; out: string }> => {
      const out = outFile();
      const run = spawnOnTerminal(['get', fileUrl, '-o', out, '--no-progress', '--via', 'relay'], buyerEnv());
      const exited = once(run.child, 'exit');
      try {
        await eventually('the question', () => (/Pay 50 credits to alice.* for talk\.pdf\? \[y\/N\]/.test(run.output()) ? true : undefined), { timeoutMs: 20_000 });
        run.child.stdin!.write(`${answer}\n`);
        const [code] = await exited;
        return { code: code as number | null, output: run.output(), out };
      } finally {
        if (run.child.exitCode === null && run.child.signalCode === null) process.kill(-run.child.pid!, 'SIGTERM');
      }
    };
    const no = await ask('n');
    expect(no.code).not.toBe(0);
    expect(no.output).toMatch(/not bought: talk\.pdf costs 50 credits/);
    expect(fs.existsSync(no.out)).toBe(false);
    expect(await balance(bobToken)).toEqual(before);
    const yes = await ask('y');
    expect(yes.output).toMatch(/bought .*talk\.pdf for 50 credits from alice/);
    expect(yes.code).toBe(0);
    expect(sha256(fs.readFileSync(yes.out))).toBe(sha256(original));
    expect(await balance(bobToken)).toEqual({ available: before.available - PRICE, held: 0 });
  });

  test('a seller who sealed another file than it listed: the buyer proves it after the key, the escrow refunds, nothing is kept', async () => {
    const store = await openAccountStore({ dataDir: edge.dataDir, databaseUrl });
    let malloryToken: string;
    try {
      malloryToken = (await store.createAccount(`mallory-${dialect === 'sqlite' ? 's' : 'p'}`)).token;
    } finally {
      await store.close();
    }
    const mallory = `mallory-${dialect === 'sqlite' ? 's' : 'p'}`;
    const { pair } = await ensureSigningKey({ UDNS_CONFIG: path.join(work, `${mallory}.json`) }, { server: edge.serverUrl, token: malloryToken, trust: { insecure: false } });
    const listed = path.join(work, 'listed.pdf');
    const swapped = path.join(work, 'swapped.pdf');
    fs.writeFileSync(listed, original);
    const other = Buffer.from(original);
    other[2 * CHUNK_BYTES + 123]! ^= 0xff;
    fs.writeFileSync(swapped, other);
    const label = `${mallory}-talks`;
    const seller = await startDishonestSeller(edge.serverUrl, malloryToken, pair, mallory, label, listed, swapped);
    try {
      const url = fileUrl.replace(/^http:\/\/[^.]+\./, `http://${label}.`);
      const before = await balance(bobToken);
      const out = outFile();
      const result = await runCli(['get', url, '-o', out, '--no-progress', '--pay-up-to', String(PRICE), '--via', 'relay'], buyerEnv());
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/chunk 2 of talk\.pdf is not the listed content: proving it to the escrow/);
      expect(result.stderr).toMatch(new RegExp(`talk\\.pdf is not the file ${mallory} listed \\(chunk 2 is not the listed content\\): the escrow upheld the proof, sale [0-9a-f]{32} is refunded and your 50 credits are back; nothing was kept`));
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.existsSync(`${out}.receipt.json`)).toBe(false);
      expect(workFilesOf(out)).toEqual([]);
      expect(await balance(bobToken)).toEqual(before);
      expect(await balance(malloryToken)).toEqual({ available: 0, held: 0 });
    } finally {
      seller.destroy();
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
