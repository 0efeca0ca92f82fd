import { expect, test } from 'vitest';
import { verifyReceipt, type AcceptanceBody, type OfferBody, type ReceiptBody } from './exchange.js';
import { generateSigningKey, signStatement, type SignedStatement } from './signing.js';

const seller = generateSigningKey();
const buyer = generateSigningKey();
const edge = generateSigningKey();
const saleId = 'ab'.repeat(16);

function exchange(change: { offer?: Partial<OfferBody>; acceptance?: Partial<AcceptanceBody>; receipt?: Partial<ReceiptBody> } = {}): SignedStatement {
  const offer = signStatement('offer', {
    v: 1, saleId, seller: 'alice', buyer: 'bob', share: 'alice-docs', path: '/talk.pdf', size: 3_000_000, price: 50,
    chunkBytes: 1 << 20, plainSha256: '11'.repeat(32), plainRoot: '22'.repeat(32), cipherRoot: '33'.repeat(32), keyHash: '44'.repeat(32),
    offeredAt: 1_764_000_000_000, ...change.offer,
  }, seller);
  const acceptance = signStatement('acceptance', {
    v: 1, saleId, buyer: 'bob', cipherRoot: '33'.repeat(32), offerSignature: offer.signature, acceptedAt: 1_764_000_001_000, ...change.acceptance,
  }, buyer);
  return signStatement('receipt', {
    v: 1, saleId, offer, acceptance, sellerKey: seller.publicKey, buyerKey: buyer.publicKey, releasedAt: 1_764_000_002_000, ledgerSeq: 7, ...change.receipt,
  }, edge);
}

test('an honest receipt verifies offline with the edge key and gives the three bodies', () => {
  const check = verifyReceipt(exchange(), edge.publicKey);
  expect(check.ok).toBe(true);
  if (!check.ok) return;
  expect(check.receipt).toMatchObject({ saleId, ledgerSeq: 7 });
  expect(check.offer).toMatchObject({ price: 50, seller: 'alice', buyer: 'bob' });
  expect(check.acceptance).toMatchObject({ buyer: 'bob', cipherRoot: '33'.repeat(32) });
});

test('another edge key, or an edited receipt, offer or acceptance, does not verify', () => {
  expect(verifyReceipt(exchange(), generateSigningKey().publicKey)).toEqual({ ok: false, problem: expect.stringMatching(/edge's signature/) });
  const receipt = exchange();
  const edited = { ...receipt, body: { ...receipt.body, ledgerSeq: 8 } };
  expect(verifyReceipt(edited, edge.publicKey)).toMatchObject({ ok: false });
  // The edge re-signs a receipt around an offer whose price was changed after the seller signed.
  const offer = (receipt.body as ReceiptBody).offer;
  const forged = signStatement('receipt', { ...receipt.body, offer: { ...offer, body: { ...offer.body, price: 5 } } }, edge);
  expect(verifyReceipt(forged, edge.publicKey)).toEqual({ ok: false, problem: expect.stringMatching(/seller's signature/) });
  // A receipt statement signed as something else (domain separation).
  expect(verifyReceipt({ ...receipt, kind: 'offer' }, edge.publicKey)).toMatchObject({ ok: false });
});

test('the three must agree: one sale, the acceptance of this very offer, the same buyer and cipher root', () => {
  expect(verifyReceipt(exchange({ acceptance: { saleId: 'cd'.repeat(16) } }), edge.publicKey)).toEqual({ ok: false, problem: expect.stringMatching(/different sales/) });
  expect(verifyReceipt(exchange({ acceptance: { offerSignature: 'AAAA' } }), edge.publicKey)).toEqual({ ok: false, problem: expect.stringMatching(/another offer/) });
  expect(verifyReceipt(exchange({ acceptance: { buyer: 'mallory' } }), edge.publicKey)).toEqual({ ok: false, problem: expect.stringMatching(/another buyer/) });
  expect(verifyReceipt(exchange({ acceptance: { cipherRoot: '55'.repeat(32) } }), edge.publicKey)).toEqual({ ok: false, problem: expect.stringMatching(/another cipher root/) });
  expect(verifyReceipt(exchange({ receipt: { buyerKey: seller.publicKey } }), edge.publicKey)).toMatchObject({ ok: false });
  expect(verifyReceipt({ kind: 'receipt' } as SignedStatement, edge.publicKey)).toEqual({ ok: false, problem: 'not a signed statement' });
});
