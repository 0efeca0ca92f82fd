import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { PaymentRequired, ShareListing, generateSigningKey, type SaleRequested } from '../../protocol/index.js';
import { CHUNK_BYTES, SealedChunkChecker, chunkCount, commitPlain, decodeManifest, openChunk, sealedOffsetOfChunk, sealedSize } from '../../protocol/sealed-file.js';
import { createAgentLogger } from '../agent-logger.js';
import { ShareOptions } from '../share/share-options.js';
import { ShareRoute } from '../share/share-route.js';

const logger = createAgentLogger('silent');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Served {
  readonly root: string;
  readonly route: ShareRoute;
  readonly port: number;
  readonly talk: Buffer;
}

/** A share with prices on talks/*.pdf, served by its own ShareServer on a real port. */
async function pricedShare(extra: Partial<ShareOptions> = {}): Promise<Served> {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-share-exchange-')));
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  const talk = randomBytes(2.25 * CHUNK_BYTES);
  fs.mkdirSync(path.join(root, 'talks'));
  fs.writeFileSync(path.join(root, 'talks', 'keynote.pdf'), talk);
  fs.writeFileSync(path.join(root, 'talks', 'notes.txt'), 'free notes\n');
  const options = ShareOptions.parse({ dir: root, list: true, prices: [{ glob: 'talks/*.pdf', price: 50 }], ...extra });
  const route = new ShareRoute(options, logger, Date.now(), generateSigningKey());
  const server = http.createServer(route.server.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    route.close();
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { root, route, port: (server.address() as AddressInfo).port, talk };
}

function request(port: number, target: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function offer(served: Served): Promise<{ saleId: string; key: Buffer; cipherRoot: string }> {
  const plain = await commitPlain(path.join(served.root, 'talks', 'keynote.pdf'));
  const saleId = randomBytes(16).toString('hex');
  const message: SaleRequested = {
    type: 'saleRequested', saleId, routeId: 'r', path: '/talks/keynote.pdf', price: 50, size: plain.size, plainRoot: plain.root, buyer: 'bob', expiresAt: Date.now() + 60_000,
  };
  const answer = await served.route.sales!.request(message, { seller: 'alice', share: 'talks' });
  if (answer.type !== 'saleOffered') throw new Error(`declined: ${answer.reason}`);
  return { saleId, key: Buffer.from(answer.key, 'hex'), cipherRoot: String(answer.offer.body.cipherRoot) };
}

test('a priced file answers 402 with its price and the command that buys it, on every way to read it', async () => {
  const { port } = await pricedShare();
  for (const target of ['/talks/keynote.pdf', '/talks/keynote.pdf?download', '/talks/keynote.pdf?checksum=sha256']) {
    const answer = await request(port, target);
    expect(answer.status, target).toBe(402);
    expect(answer.headers['x-udns-price']).toBe('50');
    const body = PaymentRequired.parse(JSON.parse(answer.body.toString()));
    expect(body).toMatchObject({ error: { code: 'payment_required' }, price: 50, path: '/talks/keynote.pdf', url: `http://127.0.0.1:${port}/talks/keynote.pdf` });
    expect(body.error.message).toContain(`udns get http://127.0.0.1:${port}/talks/keynote.pdf`);
  }
  const head = await request(port, '/talks/keynote.pdf', { method: 'HEAD' });
  expect(head.status).toBe(402);
  expect(head.headers['x-udns-price']).toBe('50');
  const page = await request(port, '/talks/keynote.pdf', { headers: { accept: 'text/html' } });
  expect(page.status).toBe(402);
  expect(page.body.toString()).toContain('costs 50 credits');
  // A Range does not get around it either.
  expect((await request(port, '/talks/keynote.pdf', { headers: { range: 'bytes=0-99' } })).status).toBe(402);
  const free = await request(port, '/talks/notes.txt');
  expect(free.status).toBe(200);
  expect(free.body.toString()).toBe('free notes\n');
});

test('listings show the price of priced files, and folder ZIPs leave them out', async () => {
  const { port, root } = await pricedShare();
  const listing = ShareListing.parse(JSON.parse((await request(port, '/talks/?format=json')).body.toString()));
  expect(listing.entries.find((entry) => entry.name === 'keynote.pdf')?.price).toBe(50);
  expect(listing.entries.find((entry) => entry.name === 'notes.txt')?.price).toBeUndefined();
  const html = (await request(port, '/talks/', { headers: { accept: 'text/html' } })).body.toString();
  expect(html).toContain('50 credits');
  for (const target of ['/talks/?zip', '/?zip']) {
    const zip = await request(port, target);
    expect(zip.status).toBe(200);
    const file = path.join(root, 'out.zip');
    fs.writeFileSync(file, zip.body);
    const names = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
    fs.rmSync(file);
    expect(names.some((name) => name.endsWith('notes.txt'))).toBe(true);
    expect(names.some((name) => name.endsWith('keynote.pdf'))).toBe(false);
  }
});

test('?sale=<id> serves the sealed file of an offered sale (Range, ETag) and its manifest; anything else is 404', async () => {
  const served = await pricedShare({ password: 'secret' });
  const { port, talk } = served;
  expect((await request(port, `/talks/keynote.pdf?sale=${'0'.repeat(32)}`)).status).toBe(404);
  expect((await request(port, '/talks/keynote.pdf?sale=nonsense')).status).toBe(404);
  const { saleId, key, cipherRoot } = await offer(served);
  // No password needed: the bytes are useless without the key only the buyer gets.
  const manifestAnswer = await request(port, `/talks/keynote.pdf?sale=${saleId}&manifest=1`);
  expect(manifestAnswer.status).toBe(200);
  const manifest = decodeManifest(manifestAnswer.body)!;
  expect(manifest.cipherLeaves).toHaveLength(3);
  const whole = await request(port, `/talks/keynote.pdf?sale=${saleId}`);
  expect(whole.status).toBe(200);
  expect(Number(whole.headers['content-length'])).toBe(sealedSize(talk.length));
  expect(whole.headers.etag).toBe(`"${cipherRoot}"`);
  const checker = new SealedChunkChecker(talk.length, manifest.cipherLeaves);
  checker.push(whole.body);
  checker.finish();
  const count = chunkCount(talk.length);
  const plain = Buffer.concat(Array.from({ length: count }, (_, index) => openChunk(key, saleId, index, count,
    whole.body.subarray(sealedOffsetOfChunk(talk.length, index), sealedOffsetOfChunk(talk.length, index + 1)))!));
  expect(plain.equals(talk)).toBe(true);
  // A resumed download: a Range in the middle of a chunk gives the same bytes.
  const part = await request(port, `/talks/keynote.pdf?sale=${saleId}`, { headers: { range: 'bytes=1000-1500000' } });
  expect(part.status).toBe(206);
  expect(part.headers['content-range']).toBe(`bytes 1000-1500000/${whole.body.length}`);
  expect(part.body.equals(whole.body.subarray(1000, 1500001))).toBe(true);
  expect((await request(port, `/talks/keynote.pdf?sale=${saleId}`, { headers: { range: `bytes=${whole.body.length}-` } })).status).toBe(416);
  const head = await request(port, `/talks/keynote.pdf?sale=${saleId}`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(head.body.length).toBe(0);
  // The sale is for this file only.
  expect((await request(port, `/talks/notes.txt?sale=${saleId}`)).status).toBe(404);
  // Changed on disk: not served under the old sale.
  fs.appendFileSync(path.join(served.root, 'talks', 'keynote.pdf'), 'x');
  expect((await request(port, `/talks/keynote.pdf?sale=${saleId}`)).status).toBe(410);
  served.route.sales!.forget(saleId);
  expect((await request(port, `/talks/keynote.pdf?sale=${saleId}`)).status).toBe(404);
});

test('a symlink to a priced file costs what the file costs: 402, price in the listing, left out of ZIPs', async () => {
  const { port, root } = await pricedShare();
  fs.symlinkSync(path.join(root, 'talks', 'keynote.pdf'), path.join(root, 'free.pdf'));
  const answer = await request(port, '/free.pdf');
  expect(answer.status).toBe(402);
  expect(PaymentRequired.parse(JSON.parse(answer.body.toString())).price).toBe(50);
  const listing = ShareListing.parse(JSON.parse((await request(port, '/?format=json')).body.toString()));
  expect(listing.entries.find((entry) => entry.name === 'free.pdf')?.price).toBe(50);
  const file = path.join(os.tmpdir(), `udns-share-exchange-${process.pid}.zip`);
  fs.writeFileSync(file, (await request(port, '/?zip')).body);
  cleanups.push(() => fs.rmSync(file, { force: true }));
  expect(execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual(['talks/notes.txt']);
});

test('WebDAV cannot copy or move a priced file (or a folder) to a name without a price', async () => {
  const { port } = await pricedShare({ webdav: true, allowUpload: true });
  const copy = (from: string, to: string, method = 'COPY') => request(port, from, { method, headers: { destination: `http://127.0.0.1:${port}${to}` } });
  expect((await copy('/talks/keynote.pdf', '/free.pdf')).status).toBe(402);
  expect((await copy('/talks/keynote.pdf', '/free.pdf', 'MOVE')).status).toBe(402);
  expect((await copy('/talks/', '/elsewhere/')).status).toBe(403);
  expect((await request(port, '/free.pdf')).status).toBe(404);
  // Free files copy as before.
  expect((await copy('/talks/notes.txt', '/notes-copy.txt')).status).toBe(201);
});

test('prices need a listed share, and bad rules are refused when the share starts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-share-exchange-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  expect(() => new ShareRoute(ShareOptions.parse({ dir, prices: [{ glob: '*.pdf', price: 5 }] }), logger)).toThrow(/--list/);
  expect(() => new ShareRoute(ShareOptions.parse({ dir, list: true, prices: [{ glob: '*.pdf', price: 0 }] }), logger)).toThrow(/from 1 to/);
  expect(() => new ShareRoute(ShareOptions.parse({ dir, list: true, prices: [{ glob: '[x', price: 3 }] }), logger)).toThrow(/without its \]/);
});
