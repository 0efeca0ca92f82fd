import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateSigningKey, isUdnsError, signStatement, type KeyView, type OfferBody, type SaleView } from '../../protocol/index.js';
import { leafHash, verifyInclusion } from '../../protocol/merkle.js';
import { CHUNK_BYTES, commitSealed, encodeManifest, keyHash, sealedSize, sealedStream } from '../../protocol/sealed-file.js';
import type { DownloadProgress } from '../download/download-progress.js';
import { checkManifest, checkOffer } from './offer-check.js';
import { newIdempotencyKey, purchaseFilesFor, readSaleFile, removeWorkFiles, writeSaleFile } from './sale-file.js';
import { downloadSealed } from './sealed-download.js';
import { unsealFile } from './unseal.js';

const quiet: DownloadProgress = { start() {}, update() {}, note() {}, finish() {}, stop() {} };
const noRetry = { retries: 2, delayMs: () => 1 };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-buyer-'));
const saleId = 'ab'.repeat(16);
const key = randomBytes(32);
const seller = generateSigningKey();
// 2.5 chunks: a short last chunk, and an odd tree (three leaves).
const plainFile = path.join(dir, 'talk.pdf');
fs.writeFileSync(plainFile, randomBytes(CHUNK_BYTES * 2 + CHUNK_BYTES / 2));
const size = fs.statSync(plainFile).size;

let commitment: Awaited<ReturnType<typeof commitSealed>>;
let offerBody: OfferBody;
let sale: SaleView;
let sellerKeys: KeyView[];

beforeAll(async () => {
  commitment = await commitSealed(plainFile, key, saleId);
  offerBody = {
    v: 1, saleId, seller: 'alice', buyer: 'bob', share: 'alice-talks', path: '/talk.pdf', size, price: 50, chunkBytes: CHUNK_BYTES,
    plainSha256: commitment.sha256, plainRoot: commitment.plainRoot, cipherRoot: commitment.cipherRoot, keyHash: keyHash(key), offeredAt: 1,
  };
  sale = {
    id: saleId, state: 'reserved', reason: null, seller: 'alice', buyer: 'bob', share: 'alice-talks', path: '/talk.pdf',
    url: 'http://alice-talks.localhost/talk.pdf', price: 50, size, plainSha256: commitment.sha256, plainRoot: commitment.plainRoot,
    offer: signStatement('offer', offerBody, seller), deadline: 0, createdAt: new Date().toISOString(),
  };
  sellerKeys = [{ keyId: seller.keyId, publicKey: seller.publicKey, account: 'alice', createdAt: '', revokedAt: null }];
});

describe('the offer and manifest checks', () => {
  test('an honest offer and manifest pass and give the leaves', () => {
    expect(checkOffer(sale, sellerKeys)).toEqual(offerBody);
    const manifest = checkManifest(encodeManifest(commitment.cipherLeaves, commitment.plainLeaves), offerBody);
    expect(manifest.cipherLeaves).toHaveLength(3);
  });

  test('a forged signature, a key of someone else, or an offer that differs from the listing is refused', () => {
    const mallory = generateSigningKey();
    const forged = { ...sale, offer: signStatement('offer', offerBody, mallory) };
    expect(() => checkOffer(forged, sellerKeys)).toThrow(/never registered/);
    expect(() => checkOffer(forged, [...sellerKeys, { keyId: mallory.keyId, publicKey: mallory.publicKey, account: 'mallory', createdAt: '', revokedAt: null }])).toThrow(/never registered/);
    expect(() => checkOffer({ ...sale, offer: { ...sale.offer!, body: { ...offerBody, price: 5 } } }, sellerKeys)).toThrow(/does not verify/);
    // Signed by alice, but for another plain root than the listing's.
    const other = { ...sale, offer: signStatement('offer', { ...offerBody, plainRoot: '00'.repeat(32) }, seller) };
    expect(() => checkOffer(other, sellerKeys)).toThrow(/plainRoot/);
    expect(() => checkOffer({ ...sale, offer: null }, sellerKeys)).toThrow(/missing/);
  });

  test('a manifest that does not hash to the offer\'s roots is refused', () => {
    const swapped = encodeManifest(commitment.plainLeaves, commitment.cipherLeaves);
    expect(() => checkManifest(swapped, offerBody)).toThrow(/cipher root/);
    const shorter = encodeManifest(commitment.cipherLeaves.slice(0, 2), commitment.plainLeaves.slice(0, 2));
    expect(() => checkManifest(shorter, offerBody)).toThrow(/chunks/);
    expect(() => checkManifest(Buffer.from('junk'), offerBody)).toThrow(/malformed/);
  });
});

describe('the sealed download, against a real HTTP server', () => {
  let server: http.Server;
  let base: string;
  /** What the server does to the bytes: flip one at `flipAt`, or stop after `cutAt` (once). */
  const behaviour: { flipAt?: number; cutAt?: number; requests: string[] } = { requests: [] };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      behaviour.requests.push(req.headers.range ?? 'all');
      const total = sealedSize(size);
      const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = match ? Number(match[1]) : 0;
      const headers = { 'content-length': String(total - start), etag: `"${commitment.cipherRoot}"` };
      if (match) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${total - 1}/${total}` });
      else res.writeHead(200, headers);
      let position = start;
      const cut = behaviour.cutAt;
      behaviour.cutAt = undefined;
      const stream = sealedStream(plainFile, key, saleId, size, { start, end: total - 1 });
      stream.on('data', (chunk: Buffer) => {
        const data = Buffer.from(chunk);
        const flip = behaviour.flipAt;
        if (flip !== undefined && flip >= position && flip < position + data.length) data[flip - position]! ^= 0x01;
        if (cut !== undefined && position + data.length > cut) {
          // Everything up to the cut is delivered, then the answer ends short of its length.
          stream.destroy();
          res.end(data.subarray(0, cut - position), () => res.socket?.destroy());
          return;
        }
        position += data.length;
        res.write(data);
      });
      stream.on('end', () => res.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const job = (part: string) => ({
    url: new URL(`${base}/talk.pdf?sale=${saleId}`), part, size, cipherLeaves: commitment.cipherLeaves,
    access: { trust: { insecure: false } }, progress: quiet, retry: noRetry, label: 'talk.pdf',
  });

  test('a cut connection resumes at the last good chunk with a Range; the part then unseals to the original', async () => {
    const files = purchaseFilesFor(path.join(dir, 'resumed.pdf'));
    behaviour.requests = [];
    behaviour.flipAt = undefined;
    behaviour.cutAt = CHUNK_BYTES + 1000;
    await downloadSealed(job(files.sealed));
    expect(behaviour.requests[0]).toBe('all');
    expect(behaviour.requests[1]).toMatch(/^bytes=\d+-$/);
    expect(fs.statSync(files.sealed).size).toBe(sealedSize(size));
    const result = await unsealFile({
      sealed: files.sealed, plain: files.plain, key, saleId, size, plainSha256: commitment.sha256,
      cipherLeaves: commitment.cipherLeaves, plainLeaves: commitment.plainLeaves, progress: quiet, label: 'talk.pdf',
    });
    expect(result).toEqual({ ok: true, sha256: commitment.sha256 });
    expect(fs.readFileSync(files.plain).equals(fs.readFileSync(plainFile))).toBe(true);
  });

  test('a part left by an earlier run is re-checked and continued, not fetched again', async () => {
    const files = purchaseFilesFor(path.join(dir, 'second-run.pdf'));
    behaviour.flipAt = undefined;
    behaviour.cutAt = 2 * (CHUNK_BYTES + 16) + CHUNK_BYTES / 2;
    await expect(downloadSealed({ ...job(files.sealed), retry: { retries: 0, delayMs: () => 1 } })).rejects.toThrow(/broke/);
    behaviour.requests = [];
    const { resumedFrom } = await downloadSealed(job(files.sealed));
    // Whole good chunks only (what the reader had buffered when the connection broke may be lost).
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom % (CHUNK_BYTES + 16)).toBe(0);
    expect(fs.statSync(files.sealed).size).toBe(sealedSize(size));
    expect(behaviour.requests).toEqual([`bytes=${resumedFrom}-`]);
  });

  test('one flipped byte stops the download at its chunk with hash_mismatch, not retried', async () => {
    const files = purchaseFilesFor(path.join(dir, 'tampered.pdf'));
    behaviour.requests = [];
    behaviour.flipAt = CHUNK_BYTES + 16 + 5;
    const error = await downloadSealed(job(files.sealed)).catch((e: unknown) => e);
    expect(isUdnsError(error, 'hash_mismatch')).toBe(true);
    expect((error as Error).message).toMatch(/chunk 1/);
    expect(behaviour.requests).toHaveLength(1);
    // Nothing after the bad chunk was taken.
    expect(fs.statSync(files.sealed).size).toBeLessThan(2 * (CHUNK_BYTES + 16));
    behaviour.flipAt = undefined;
  });
});

describe('unsealing and the proof of a bad chunk', () => {
  test('a seller who sealed other content at one chunk: the proof names it and checks against both roots', async () => {
    // The seller commits (listing) to plainFile but seals a file whose chunk 2 differs.
    const other = path.join(dir, 'other.pdf');
    const bytes = fs.readFileSync(plainFile);
    bytes[2 * CHUNK_BYTES + 7]! ^= 0xff;
    fs.writeFileSync(other, bytes);
    const sealed = await commitSealed(other, key, saleId);
    const sealedFile = path.join(dir, 'other.sealed');
    await new Promise<void>((resolve, reject) => sealedStream(other, key, saleId, size).pipe(fs.createWriteStream(sealedFile)).on('finish', resolve).on('error', reject));
    const plain = path.join(dir, 'other.part');
    const result = await unsealFile({
      sealed: sealedFile, plain, key, saleId, size, plainSha256: commitment.sha256,
      // The manifest's cipher leaves are of what was sealed; its plain leaves the listing's.
      cipherLeaves: sealed.cipherLeaves, plainLeaves: commitment.plainLeaves, progress: quiet, label: 'other.pdf',
    });
    expect(result.ok).toBe(false);
    if (result.ok || result.index === null) throw new Error('expected a proof');
    expect(result).toMatchObject({ index: 2, why: 'is not the listed content' });
    expect(fs.existsSync(plain)).toBe(false);
    const { proof } = result;
    const chunk = Buffer.from(proof.cipherChunk, 'base64');
    expect(verifyInclusion(leafHash(chunk), 2, 3, proof.cipherPath.map((node) => Buffer.from(node, 'hex')), Buffer.from(sealed.cipherRoot, 'hex'))).toBe(true);
    expect(verifyInclusion(Buffer.from(proof.plainLeaf, 'hex'), 2, 3, proof.plainPath.map((node) => Buffer.from(node, 'hex')), Buffer.from(commitment.plainRoot, 'hex'))).toBe(true);
  });

  test('a wrong key: the first chunk does not decrypt', async () => {
    const sealedFile = path.join(dir, 'honest.sealed');
    await new Promise<void>((resolve, reject) => sealedStream(plainFile, key, saleId, size).pipe(fs.createWriteStream(sealedFile)).on('finish', resolve).on('error', reject));
    const result = await unsealFile({
      sealed: sealedFile, plain: path.join(dir, 'wrong-key.part'), key: randomBytes(32), saleId, size, plainSha256: commitment.sha256,
      cipherLeaves: commitment.cipherLeaves, plainLeaves: commitment.plainLeaves, progress: quiet, label: 'x',
    });
    expect(result).toMatchObject({ ok: false, index: 0, why: 'does not decrypt' });
  });
});

test('the sale file: written before the request, read back only for the same URL and edge, removed with the parts', () => {
  const files = purchaseFilesFor(path.join(dir, 'kept.pdf'));
  const entry = { v: 1 as const, url: 'http://a.localhost/kept.pdf', edge: 'http://127.0.0.1:1', idempotencyKey: newIdempotencyKey(), maxPrice: 50 };
  writeSaleFile(files, entry);
  expect(readSaleFile(files, entry.url, entry.edge)).toEqual(entry);
  expect(readSaleFile(files, 'http://a.localhost/other.pdf', entry.edge)).toBeNull();
  expect(readSaleFile(files, entry.url, 'http://127.0.0.1:2')).toBeNull();
  fs.writeFileSync(files.sealed, 'x');
  removeWorkFiles(files);
  expect(fs.existsSync(files.sale) || fs.existsSync(files.sealed)).toBe(false);
});
