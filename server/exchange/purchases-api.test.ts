import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SaleView, generateSigningKey, signStatement, type IndexEntry, type OfferBody, type SigningKeyPair } from '../../protocol/index.js';
import { CHUNK_BYTES, commitPlain } from '../../protocol/sealed-file.js';
import { TestSeller } from '../../test/helpers/exchange-seller.js';
import { eventually } from '../../test/helpers/eventually.js';
import { HostileMuxAgent } from '../../test/helpers/hostile-agent.js';
import { startTestEdge, type TestEdge } from '../../test/helpers/test-edge.js';

/*
 * The purchases API on a real edge (in-process, SQLite) with sellers on real tunnels: the HTTP
 * answers, the long-poll, the transfer ticket for the sealed file, and who may do what. The
 * state machine itself is tested in escrow.test.ts on both databases.
 */

const SHARE = 'alice-docs';
const PRICE = 40;
const FILE_SIZE = CHUNK_BYTES + 1000;

describe('the purchases API on a real edge', () => {
  let edge: TestEdge;
  let tmp: string;
  let entry: IndexEntry;
  let seller: TestSeller;
  const tokens: Record<string, string> = {};
  const keys: Record<string, SigningKeyPair> = {};
  let serial = 0;

  const call = async (who: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const response = await fetch(`${edge.serverUrl}/api/v1${route}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who] ?? edge.adminToken}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() as Record<string, unknown> };
  };
  const url = () => `http://${SHARE}.localhost:${edge.edge.httpPort}/talk.pdf`;
  const purchase = (who = 'bob', maxPrice = PRICE) => call(who, 'POST', '/purchases', { url: url(), maxPrice, idempotencyKey: `api-test-${++serial}` });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-purchases-api-'));
    const file = path.join(tmp, 'talk.pdf');
    fs.writeFileSync(file, randomBytes(FILE_SIZE));
    const listing = await commitPlain(file);
    entry = { path: '/talk.pdf', size: FILE_SIZE, mtime: 1_764_000_000_000, type: 'application/pdf', sha256: listing.sha256, price: PRICE, merkleRoot: listing.root };
    edge = await startTestEdge({ offerTimeout: '60s', saleTimeout: '60s', disputeWindow: '60s' });
    for (const name of ['alice', 'bob', 'carol', 'dave']) {
      tokens[name] = await edge.createAccount(name);
      keys[name] = generateSigningKey();
      if (name !== 'dave') expect((await call(name, 'POST', '/keys', { publicKey: keys[name]!.publicKey })).status).toBeLessThan(300);
    }
    for (const name of ['bob', 'dave']) expect((await call('admin', 'POST', '/credits/grant', { to: name, amount: 1000, idempotencyKey: `grant-${name}-1` })).status).toBe(200);
    seller = await TestSeller.connect(edge.serverUrl, tokens.alice!, keys.alice!, { share: SHARE, seller: 'alice', file, entry });
  }, 60_000);
  afterAll(async () => {
    seller?.close();
    await edge?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a purchase: 200 offering, the long-poll answers once the offer reserved the credits; the buyer and the seller see it, nobody else', async () => {
    seller.hold = true;
    const { status, json } = await purchase();
    expect(status).toBe(200);
    const sale = SaleView.parse(json);
    expect(sale).toMatchObject({ state: 'offering', seller: 'alice', buyer: 'bob', price: PRICE, url: url() });
    const polled = call('bob', 'GET', `/purchases/${sale.id}?wait=20000&state=offering`);
    await eventually('the request at the seller', () => seller.agent.messages.find((m) => m.type === 'saleRequested' && m.saleId === sale.id));
    seller.hold = false;
    const answer = await polled;
    expect(answer.status).toBe(200);
    expect(SaleView.parse(answer.json)).toMatchObject({ id: sale.id, state: 'reserved', offer: expect.objectContaining({ kind: 'offer' }) });
    // A state other than the one asked about answers at once.
    expect((await call('alice', 'GET', `/purchases/${sale.id}?wait=20000&state=offering`)).json).toMatchObject({ state: 'reserved' });
    expect((await call('carol', 'GET', `/purchases/${sale.id}`)).status).toBe(404);
    expect((await call('bob', 'GET', '/purchases/not-a-sale')).status).toBe(400);
    expect((await call('bob', 'GET', `/purchases/${sale.id}?wait=99999&state=offering`)).status).toBe(400);
    const listed = await call('bob', 'GET', '/purchases?role=bought&limit=10');
    expect((listed.json.sales as SaleView[]).map((s) => s.id)).toContain(sale.id);
    expect(((await call('alice', 'GET', '/purchases?role=sold')).json.sales as SaleView[]).map((s) => s.id)).toContain(sale.id);
    expect((await call('carol', 'GET', '/purchases')).json.sales).toEqual([]);
    const credits = await call('bob', 'GET', '/credits');
    expect(credits.json).toMatchObject({ available: expect.any(Number) });
  });

  test('refusals carry their HTTP status: 402 too few credits, 409 over the limit, 403 without a signing key, 404 unlisted, 400 not a URL of this edge', async () => {
    expect(await purchase('carol')).toMatchObject({ status: 402, json: { error: { code: 'insufficient_credits' } } });
    expect(await purchase('bob', PRICE - 1)).toMatchObject({ status: 409, json: { error: { code: 'price_too_high' } } });
    expect(await purchase('dave')).toMatchObject({ status: 403, json: { error: { code: 'forbidden' } } });
    expect(await call('bob', 'POST', '/purchases', { url: url().replace('talk.pdf', 'nope.pdf'), maxPrice: PRICE, idempotencyKey: 'api-test-unlisted' })).toMatchObject({ status: 404 });
    expect(await call('bob', 'POST', '/purchases', { url: 'http://example.org/talk.pdf', maxPrice: PRICE, idempotencyKey: 'api-test-elsewhere' })).toMatchObject({ status: 400 });
    expect(await call('bob', 'POST', '/purchases', { url: url(), maxPrice: -1, idempotencyKey: 'api-test-negative' })).toMatchObject({ status: 400 });
  });

  test('the sealed file\'s transfer: a relay grant for the buyer of a reserved sale; 403 for the seller, 409 before the reservation', async () => {
    seller.hold = true;
    const offering = SaleView.parse((await purchase()).json);
    expect(await call('bob', 'POST', `/purchases/${offering.id}/transfer`, { via: 'relay' })).toMatchObject({ status: 409, json: { error: { code: 'sale_state' } } });
    seller.hold = false;
    const sale = SaleView.parse((await call('bob', 'GET', `/purchases/${offering.id}?wait=20000&state=offering`)).json);
    expect(sale.state).toBe('reserved');
    expect(await call('bob', 'POST', `/purchases/${sale.id}/transfer`, { via: 'relay' })).toEqual({ status: 200, json: { via: 'relay' } });
    expect(await call('alice', 'POST', `/purchases/${sale.id}/transfer`, { via: 'relay' })).toMatchObject({ status: 403 });
    // Accept through the API: the key and the receipt; the same again is the same answer.
    const offer = sale.offer!;
    const acceptance = signStatement('acceptance', { v: 1, saleId: sale.id, buyer: 'bob', cipherRoot: (offer.body as OfferBody).cipherRoot, offerSignature: offer.signature, acceptedAt: Date.now() }, keys.bob!);
    const accepted = await call('bob', 'POST', `/purchases/${sale.id}/accept`, { acceptance });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ key: TestSeller.sealed.get(sale.id)!.key.toString('hex'), sale: { state: 'released' }, receipt: { kind: 'receipt' } });
    expect(await call('bob', 'POST', `/purchases/${sale.id}/accept`, { acceptance })).toEqual(accepted);
    expect(await call('bob', 'POST', `/purchases/${sale.id}/cancel`)).toMatchObject({ status: 409, json: { error: { code: 'sale_state' } } });
    expect(await call('bob', 'POST', `/purchases/${sale.id}/dispute`, { index: 0, cipherChunk: '', cipherPath: [], plainLeaf: '00'.repeat(32), plainPath: [] }))
      .toMatchObject({ status: 422, json: { error: { code: 'proof_rejected' } } });
  });

  test('an offer over another account\'s tunnel is ignored: the sale stays offering until the seller\'s own agent offers', async () => {
    seller.hold = true;
    const sale = SaleView.parse((await purchase()).json);
    await eventually('the request at the seller', () => seller.agent.messages.find((m) => m.type === 'saleRequested' && m.saleId === sale.id));
    // Carol copies a correctly signed offer of Alice's (she could have seen one) onto her own tunnel.
    const intruder = await HostileMuxAgent.connect(edge.serverUrl, tokens.carol!);
    try {
      await intruder.hello();
      const forged = signStatement('offer', {
        v: 1, saleId: sale.id, seller: 'alice', buyer: 'bob', share: SHARE, path: '/talk.pdf', size: FILE_SIZE, price: PRICE, chunkBytes: CHUNK_BYTES,
        plainSha256: entry.sha256!, plainRoot: entry.merkleRoot!, cipherRoot: 'ab'.repeat(32), keyHash: 'cd'.repeat(32), offeredAt: Date.now(),
      }, keys.alice!);
      intruder.send({ type: 'saleOffered', saleId: sale.id, offer: forged, key: 'ef'.repeat(32) });
      intruder.send({ type: 'saleDeclined', saleId: sale.id, reason: 'changed' });
      await eventually('the escrow to ignore the offer', () => (edge.logs().includes('offer from an account that is not the seller: ignored') ? true : undefined));
      // The tunnel stays up (a foreign sale is not a protocol violation), and the sale is untouched.
      const probe = await intruder.register(5, 'carol-docs');
      expect(probe.type).toBe('routeRegistered');
      expect(SaleView.parse((await call('bob', 'GET', `/purchases/${sale.id}`)).json).state).toBe('offering');
    } finally {
      intruder.destroy();
    }
    seller.hold = false;
    expect(SaleView.parse((await call('bob', 'GET', `/purchases/${sale.id}?wait=20000&state=offering`)).json).state).toBe('reserved');
    expect((await call('bob', 'POST', `/purchases/${sale.id}/cancel`)).json).toMatchObject({ state: 'refunded', reason: 'cancelled' });
  });
});
