import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { OfferBody, generateSigningKey, verifyStatement, type SaleRequested, type SigningKeyPair } from '../../protocol/index.js';
import { CHUNK_BYTES, commitPlain, commitSealed, decodeManifest, keyHash } from '../../protocol/sealed-file.js';
import { createAgentLogger } from '../agent-logger.js';
import { commitFilePlain } from '../index/background-hasher.js';
import { PriceList } from './price-list.js';
import { SaleDesk, type SaleDeskOptions } from './sale-desk.js';

const logger = createAgentLogger('silent');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A share folder with a priced 3.5 MiB talk (four chunks, the last short) and a free note. */
function shareFolder(): string {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-sale-desk-')));
  dirs.push(root);
  fs.mkdirSync(path.join(root, 'talks'));
  fs.writeFileSync(path.join(root, 'talks', 'keynote.pdf'), randomBytes(3.5 * CHUNK_BYTES));
  fs.writeFileSync(path.join(root, 'talks', 'notes.txt'), 'free\n');
  return root;
}

function desk(root: string, signingKey: SigningKeyPair | null, extra: Partial<SaleDeskOptions> = {}): SaleDesk {
  const prices = new PriceList([{ glob: 'talks/*.pdf', price: 50 }]);
  return new SaleDesk({
    policy: { root, showHidden: false, followSymlinks: false },
    prices: () => prices,
    commitment: (real) => commitFilePlain(real),
    signingKey,
    logger,
    ...extra,
  });
}

async function requestFor(root: string, overrides: Partial<SaleRequested> = {}): Promise<SaleRequested> {
  const file = path.join(root, 'talks', 'keynote.pdf');
  const plain = await commitPlain(file);
  return {
    type: 'saleRequested', saleId: randomBytes(16).toString('hex'), routeId: 'r1', path: '/talks/keynote.pdf',
    price: 50, size: plain.size, plainRoot: plain.root, buyer: 'bob', expiresAt: Date.now() + 60_000, ...overrides,
  };
}

const context = { seller: 'alice', share: 'talks' };

test('an offer is signed by the member\'s key and commits to what commitSealed computes with the key it gives', async () => {
  const root = shareFolder();
  const pair = generateSigningKey();
  const request = await requestFor(root);
  const answer = await desk(root, pair).request(request, context);
  expect(answer.type).toBe('saleOffered');
  if (answer.type !== 'saleOffered') return;
  expect(verifyStatement(answer.offer, 'offer', pair.publicKey)).toBe(true);
  expect(verifyStatement(answer.offer, 'offer', generateSigningKey().publicKey)).toBe(false);
  const body = OfferBody.parse(answer.offer.body);
  const key = Buffer.from(answer.key, 'hex');
  const sealed = await commitSealed(path.join(root, 'talks', 'keynote.pdf'), key, request.saleId);
  expect(body).toMatchObject({
    v: 1, saleId: request.saleId, seller: 'alice', buyer: 'bob', share: 'talks', path: '/talks/keynote.pdf',
    size: 3.5 * CHUNK_BYTES, price: 50, chunkBytes: CHUNK_BYTES, plainRoot: request.plainRoot,
    plainSha256: sealed.sha256, cipherRoot: sealed.cipherRoot, keyHash: keyHash(key),
  });
  expect(sealed.plainRoot).toBe(request.plainRoot);
});

test('the same sale gets the same key and ciphertext from a restarted agent, another sale another key', async () => {
  const root = shareFolder();
  const pair = generateSigningKey();
  const request = await requestFor(root);
  const first = await desk(root, pair).request(request, context);
  // A new desk: what a restarted agent has (nothing remembered, the same signing key file).
  const again = await desk(root, pair).request(request, context);
  const other = await desk(root, pair).request({ ...request, saleId: randomBytes(16).toString('hex') }, context);
  if (first.type !== 'saleOffered' || again.type !== 'saleOffered' || other.type !== 'saleOffered') throw new Error('expected offers');
  expect(again.key).toBe(first.key);
  expect(OfferBody.parse(again.offer.body).cipherRoot).toBe(OfferBody.parse(first.offer.body).cipherRoot);
  expect(other.key).not.toBe(first.key);
  expect(OfferBody.parse(other.offer.body).cipherRoot).not.toBe(OfferBody.parse(first.offer.body).cipherRoot);
  // Another member's key gives other keys for the same sale.
  const stranger = await desk(root, generateSigningKey()).request(request, context);
  if (stranger.type !== 'saleOffered') throw new Error('expected an offer');
  expect(stranger.key).not.toBe(first.key);
});

test('the desk remembers what it offered (sealed file, manifest) until the sale is closed', async () => {
  const root = shareFolder();
  const sales = desk(root, generateSigningKey());
  const request = await requestFor(root);
  const answer = await sales.request(request, context);
  if (answer.type !== 'saleOffered') throw new Error('expected an offer');
  const sale = sales.sale(request.saleId)!;
  expect(sale.path).toBe('/talks/keynote.pdf');
  expect(sale.cipherRoot).toBe(OfferBody.parse(answer.offer.body).cipherRoot);
  const manifest = decodeManifest(sale.manifest)!;
  expect(manifest.cipherLeaves).toHaveLength(4);
  expect(manifest.plainLeaves).toEqual((await commitPlain(path.join(root, 'talks', 'keynote.pdf'))).leaves);
  // Asked again (the edge resending after a reconnect): the very same answer, no second pass.
  expect(await sales.request(request, context)).toBe(answer);
  sales.forget(request.saleId);
  expect(sales.sale(request.saleId)).toBeNull();
});

test('a sale is declined when the file is not for sale, changed, or the member has no signing key', async () => {
  const root = shareFolder();
  const sales = desk(root, generateSigningKey());
  const request = await requestFor(root);
  const reason = async (overrides: Partial<SaleRequested>, on = sales): Promise<string> => {
    const answer = await on.request({ ...request, saleId: randomBytes(16).toString('hex'), ...overrides }, context);
    return answer.type === 'saleDeclined' ? answer.reason : 'offered';
  };
  expect(await reason({})).toBe('offered');
  expect(await reason({ path: '/talks/notes.txt' })).toBe('not for sale');
  expect(await reason({ path: '/talks/missing.pdf' })).toBe('not for sale');
  expect(await reason({ path: '/talks' })).toBe('not for sale');
  expect(await reason({ path: '/.hidden.pdf' })).toBe('not for sale');
  expect(await reason({ price: 49 })).toBe('changed');
  expect(await reason({ size: request.size + 1 })).toBe('changed');
  expect(await reason({ plainRoot: '0'.repeat(64) })).toBe('changed');
  expect(await reason({}, desk(root, null))).toBe('no signing key');
  // The file changed after the listing: its root is not the one the buyer saw.
  fs.writeFileSync(path.join(root, 'talks', 'keynote.pdf'), randomBytes(3.5 * CHUNK_BYTES));
  expect(await reason({})).toBe('changed');
});

test('one sealing at a time per share: beyond the queue, sales are declined busy', async () => {
  const root = shareFolder();
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let reads = 0;
  let running = 0;
  let most = 0;
  const sales = desk(root, generateSigningKey(), {
    maxQueued: 1,
    commitment: async (real) => {
      reads++;
      running++;
      most = Math.max(most, running);
      await gate;
      try {
        return await commitFilePlain(real);
      } finally {
        running--;
      }
    },
  });
  const base = await requestFor(root);
  const answers = [0, 1, 2].map(() => sales.request({ ...base, saleId: randomBytes(16).toString('hex') }, context));
  // One running, one queued, the third refused at once.
  expect((await answers[2]!).type === 'saleDeclined' && (await answers[2]!)).toMatchObject({ reason: 'busy' });
  release();
  expect((await answers[0]!).type).toBe('saleOffered');
  expect((await answers[1]!).type).toBe('saleOffered');
  expect(reads).toBe(2);
  expect(most).toBe(1);
});
