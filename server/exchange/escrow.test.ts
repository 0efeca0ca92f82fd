import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  generateSigningKey,
  signStatement,
  verifyReceipt,
  type AcceptanceBody,
  type OfferBody,
  type SaleClosed,
  type SaleOffered,
  type SaleProof,
  type SaleRequested,
  type SigningKeyPair,
} from '../../protocol/index.js';
import { SaleEntryBody } from '../../protocol/ledger.js';
import { inclusionProof } from '../../protocol/merkle.js';
import { CHUNK_BYTES, chunkCount, commitPlain, commitSealed, keyHash, plainChunkLength, sealChunk } from '../../protocol/sealed-file.js';
import { openAccountStore, storeDatabase, type AccountInfo, type AccountStore } from '../accounts/account-store.js';
import { openSigningKeyStore } from '../keys/signing-key-store.js';
import { openCreditBook, type CreditBook } from '../ledger/credit-book.js';
import { openLedgerLog, type LedgerLog } from '../ledger/ledger-log.js';
import { PublicUrls } from '../public-urls.js';
import { createSearchIndex } from '../search/sql-search-index.js';
import { findPostgresBinaries, rejection, requirePostgresInCi, describeOnDatabases } from '../../test/helpers/test-databases.js';
import { Escrow, type EscrowSettings, MAX_OPEN_PURCHASES_PER_SHARE } from './escrow.js';
import { SaleStore } from './sale-store.js';
import { SaleSweeper } from './sale-sweeper.js';
import { eventually } from '../../test/helpers/eventually.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const SHARE = 'alice-docs';
const PRICE = 50;
/** 2.5 chunks: three leaves, the last one short. */
const FILE_SIZE = 2 * CHUNK_BYTES + CHUNK_BYTES / 2;
const logger = pino({ level: 'silent' });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-escrow-'));
const listedFile = path.join(tmp, 'talk.pdf');
const otherFile = path.join(tmp, 'other.pdf');
fs.writeFileSync(listedFile, randomBytes(FILE_SIZE));
fs.writeFileSync(otherFile, randomBytes(FILE_SIZE));
let listed: { sha256: string; root: string; leaves: Buffer[] };

beforeAll(async () => {
  listed = await commitPlain(listedFile);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describeOnDatabases('escrow on %s', ({ backend, open }) => {

  interface World {
    store: AccountStore;
    ledger: LedgerLog;
    books: CreditBook;
    sales: SaleStore;
    escrow: Escrow;
    settings: { -readonly [K in keyof EscrowSettings]: EscrowSettings[K] };
    alice: AccountInfo;
    bob: AccountInfo;
    carol: AccountInfo;
    aliceKey: SigningKeyPair;
    bobKey: SigningKeyPair;
    carolKey: SigningKeyPair;
    /** What the seller's tunnel was sent; `online` false: no tunnel serves the share. */
    sent: Array<SaleRequested | SaleClosed>;
    seller: { online: boolean };
    clock: { now: number };
  }

  async function setUp(options: { clock?: boolean } = {}): Promise<World> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger });
    open.push(ledger);
    const books = openCreditBook(store, ledger);
    const keys = openSigningKeyStore(store);
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(async (name) => (await store.createAccount(name)).account));
    const [aliceKey, bobKey, carolKey] = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
    await keys.register(alice!, aliceKey.publicKey);
    await keys.register(bob!, bobKey.publicKey);
    await keys.register(carol!, carolKey.publicKey);
    await books.move({ actor: 'operator', idempotencyKey: 'grant-bob', kind: 'grant', from: 'issuance', to: { member: bob!.id }, amount: 1000 });
    await books.move({ actor: 'operator', idempotencyKey: 'grant-carol', kind: 'grant', from: 'issuance', to: { member: carol!.id }, amount: 10 });

    const index = createSearchIndex(store);
    await store.claimName(alice!.id, SHARE);
    await index.openShare({ label: SHARE, accountId: alice!.id, locked: false, expiresAt: null });
    const outcome = await index.applyBatch(SHARE, {
      reset: [],
      upserts: [
        { path: '/talk.pdf', size: FILE_SIZE, mtime: 1_764_000_000_000, type: 'application/pdf', sha256: listed.sha256, price: PRICE, merkleRoot: listed.root },
        { path: '/free.txt', size: 3, mtime: 1_764_000_000_000, type: 'text/plain', sha256: 'ab'.repeat(32) },
      ],
      removes: [],
    }, { entriesPerShare: 100, entriesPerAccount: 100 });
    expect(outcome.ok).toBe(true);

    const sent: Array<SaleRequested | SaleClosed> = [];
    const seller = { online: true };
    const clock = { now: Date.now() };
    const settings = { offerTimeoutMs: 60_000, saleTimeoutMs: 60_000, disputeWindowMs: 60_000 };
    const sales = new SaleStore(store);
    const escrow = new Escrow({
      sales, books, ledger, keys, files: index,
      sellers: (label, sellerId) => (seller.online && label === SHARE && sellerId === alice!.id ? { routeId: 'route-1', send: (message) => sent.push(message) } : null),
      settings: () => settings,
      urls: new PublicUrls('example.net', 80),
      logger,
      ...(options.clock ? { now: () => clock.now } : {}),
    });
    return { store, ledger, books, sales, escrow, settings, alice: alice!, bob: bob!, carol: carol!, aliceKey, bobKey, carolKey, sent, seller, clock };
  }

  const url = `http://${SHARE}.example.net/talk.pdf`;
  const target = { label: SHARE, path: '/talk.pdf' };
  let serial = 0;
  const buy = (w: World, buyer = w.bob, overrides: { maxPrice?: number; idempotencyKey?: string; path?: string } = {}) =>
    w.escrow.request(buyer, { url, maxPrice: overrides.maxPrice ?? 100, idempotencyKey: overrides.idempotencyKey ?? `purchase-${++serial}` }, overrides.path ? { ...target, path: overrides.path } : target);

  /** The seller's agent: seals `file` under a fresh K and signs the offer (fields overridable). */
  async function offer(w: World, saleId: string, options: { file?: string; body?: Partial<OfferBody>; signer?: SigningKeyPair; key?: Buffer } = {}) {
    const key = options.key ?? randomBytes(32);
    const sealed = await commitSealed(options.file ?? listedFile, key, saleId);
    const body: OfferBody = {
      v: 1, saleId, seller: 'alice', buyer: 'bob', share: SHARE, path: '/talk.pdf', size: FILE_SIZE, price: PRICE,
      chunkBytes: CHUNK_BYTES, plainSha256: listed.sha256, plainRoot: listed.root, cipherRoot: sealed.cipherRoot,
      keyHash: keyHash(key), offeredAt: w.clock.now, ...options.body,
    };
    const message: SaleOffered = { type: 'saleOffered', saleId, offer: signStatement('offer', body, options.signer ?? w.aliceKey), key: key.toString('hex') };
    return { message, key, sealed, body };
  }

  const fromSeller = (w: World, account = w.alice) => ({ accountId: account.id, label: () => SHARE });

  function acceptance(w: World, saleId: string, offered: SaleOffered, overrides: Partial<AcceptanceBody> = {}, signer = w.bobKey) {
    const cipherRoot = (offered.offer.body as OfferBody).cipherRoot;
    const body: AcceptanceBody = { v: 1, saleId, buyer: 'bob', cipherRoot, offerSignature: offered.offer.signature, acceptedAt: w.clock.now, ...overrides };
    return signStatement('acceptance', body, signer);
  }

  async function reserved(w: World) {
    const sale = await buy(w);
    const made = await offer(w, sale.id);
    await w.escrow.offered(fromSeller(w), made.message);
    return { sale, ...made };
  }

  async function released(w: World, options: Parameters<typeof offer>[2] = {}) {
    const sale = await buy(w);
    const made = await offer(w, sale.id, options);
    await w.escrow.offered(fromSeller(w), made.message);
    const answer = await w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, made.message));
    return { sale, answer, ...made };
  }

  async function wallets(w: World): Promise<Map<string, number>> {
    const rows = await storeDatabase(w.store).prisma.wallet.findMany();
    return new Map(rows.map((row) => [row.key, Number(row.balance)]));
  }

  /** Conservation: all wallets sum to 0, escrow holds exactly the reserved sales, held:<id> the released ones. */
  async function expectBooksBalance(w: World): Promise<void> {
    expect((await w.books.totals()).sum).toBe(0n);
    const all = await wallets(w);
    expect(all.get('escrow') ?? 0).toBe(await w.sales.reservedTotal());
    const releasedRows = await storeDatabase(w.store).prisma.sale.findMany({ where: { state: 'released' } });
    const held = new Map<number, number>();
    for (const row of releasedRows) held.set(row.sellerId, (held.get(row.sellerId) ?? 0) + Number(row.price));
    for (const [key, balance] of all) {
      if (key.startsWith('held:')) expect(balance).toBe(held.get(Number(key.slice(5))) ?? 0);
    }
  }

  async function saleEntries(w: World, saleId: string): Promise<SaleEntryBody[]> {
    const entries = await w.ledger.entries({ limit: 500 });
    return entries.filter((entry) => entry.kind === 'sale').map((entry) => SaleEntryBody.parse(JSON.parse(entry.body))).filter((body) => body.saleId === saleId);
  }

  test('a whole purchase: offering → reserved → released → settled, money moves reserve/pay/settle, a ledger entry per step, the receipt verifies', async () => {
    const w = await setUp({ clock: true });
    const sale = await buy(w);
    expect(sale).toMatchObject({ state: 'offering', seller: 'alice', buyer: 'bob', price: PRICE, size: FILE_SIZE, plainRoot: listed.root, url });
    expect(w.sent).toEqual([expect.objectContaining({ type: 'saleRequested', saleId: sale.id, routeId: 'route-1', path: '/talk.pdf', price: PRICE, size: FILE_SIZE, plainRoot: listed.root, buyer: 'bob' })]);

    const made = await offer(w, sale.id);
    await w.escrow.offered(fromSeller(w), made.message);
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('reserved');
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000 - PRICE, held: 0 });
    await expectBooksBalance(w);

    const answer = await w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, made.message));
    expect(answer.key).toBe(made.key.toString('hex'));
    expect(answer.sale.state).toBe('released');
    expect(answer.receipt.kind).toBe('receipt');
    // Anyone with the edge's public key checks it offline.
    expect(verifyReceipt(answer.receipt, w.ledger.publicKey().publicKey)).toMatchObject({ ok: true });
    expect(verifyReceipt(answer.receipt, w.aliceKey.publicKey)).toMatchObject({ ok: false });
    expect(answer.receipt.body).toMatchObject({ saleId: sale.id, sellerKey: w.aliceKey.publicKey, buyerKey: w.bobKey.publicKey });
    expect(await w.books.balances(w.alice.id)).toEqual({ available: 0, held: PRICE });
    await expectBooksBalance(w);
    // Seen by the seller too.
    expect((await w.escrow.get(w.alice, sale.id)).state).toBe('released');

    w.clock.now += w.settings.disputeWindowMs;
    expect(await w.escrow.sweep()).toBe(1);
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('settled');
    expect(await w.books.balances(w.alice.id)).toEqual({ available: PRICE, held: 0 });
    expect(w.sent.at(-1)).toEqual({ type: 'saleClosed', saleId: sale.id, state: 'settled' });
    await expectBooksBalance(w);

    const steps = await saleEntries(w, sale.id);
    expect(steps.map((entry) => entry.state)).toEqual(['reserved', 'released', 'settled']);
    expect(steps[1]).toMatchObject({ buyer: w.bob.id, seller: w.alice.id, price: PRICE, cipherRoot: made.body.cipherRoot, keyHash: made.body.keyHash, offerSignature: made.message.offer.signature });
    expect((answer.receipt.body as { ledgerSeq: number }).ledgerSeq).toBeGreaterThan(0);
    const movements = await storeDatabase(w.store).prisma.creditMovement.findMany({ where: { saleId: sale.id }, orderBy: { id: 'asc' } });
    expect(movements.map((movement) => movement.kind)).toEqual(['reserve', 'pay', 'settle']);
  });

  test('refusals at the request: not listed, free, over the limit, own file, no signing key, too few credits; the same key twice is one sale, another URL with it a conflict', async () => {
    const w = await setUp();
    expect((await rejection(buy(w, w.bob, { path: '/missing.pdf' }))).code).toBe('not_found');
    expect((await rejection(buy(w, w.bob, { path: '/free.txt' }))).code).toBe('bad_request');
    expect(await rejection(buy(w, w.bob, { maxPrice: PRICE - 1 }))).toMatchObject({ code: 'price_too_high', message: expect.stringContaining('costs 50 credits') });
    expect((await rejection(buy(w, w.alice))).code).toBe('bad_request');
    const dave = (await w.store.createAccount('dave')).account;
    expect(await rejection(buy(w, dave))).toMatchObject({ code: 'forbidden', message: expect.stringContaining('udns login') });
    expect(await rejection(buy(w, w.carol))).toMatchObject({ code: 'insufficient_credits', message: expect.stringContaining('you have 10') });
    expect(await storeDatabase(w.store).prisma.sale.count()).toBe(0);

    const first = await buy(w, w.bob, { idempotencyKey: 'same-key-1' });
    const again = await buy(w, w.bob, { idempotencyKey: 'same-key-1' });
    expect(again.id).toBe(first.id);
    const both = await Promise.all([buy(w, w.bob, { idempotencyKey: 'racing-key' }), buy(w, w.bob, { idempotencyKey: 'racing-key' })]);
    expect(both[0].id).toBe(both[1].id);
    expect((await rejection(buy(w, w.bob, { idempotencyKey: 'same-key-1', path: '/free.txt' }))).code).toBe('idempotency_conflict');
    expect(await storeDatabase(w.store).prisma.sale.count()).toBe(2);
  });

  test('seller offline: the sale fails at once with nothing reserved', async () => {
    const w = await setUp();
    w.seller.online = false;
    // The index learns it when the tunnel goes (IndexSync); until then another edge might hold it.
    await createSearchIndex(w.store).setOnline(SHARE, false);
    expect(await rejection(buy(w, w.bob, { idempotencyKey: 'offline-1' }))).toMatchObject({ code: 'sale_state', message: expect.stringContaining('offline') });
    const sale = (await w.sales.byBuyerKey(w.bob.id, 'offline-1'))!;
    expect(sale).toMatchObject({ state: 'failed', reason: 'offer timeout' });
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000, held: 0 });
  });

  test('bad offers fail the sale with nothing reserved: wrong signer, bad signature, mismatching fields, changed price, wrong key; an offer from another account\'s tunnel is ignored', async () => {
    const w = await setUp();
    const cases: Array<{ name: string; make: (saleId: string) => Promise<SaleOffered> }> = [
      { name: 'signed by the buyer', make: async (id) => (await offer(w, id, { signer: w.bobKey })).message },
      { name: 'bad signature', make: async (id) => { const m = (await offer(w, id)).message; return { ...m, offer: { ...m.offer, signature: signStatement('offer', { x: 1 }, w.aliceKey).signature } }; } },
      { name: 'price changed', make: async (id) => (await offer(w, id, { body: { price: PRICE + 1 } })).message },
      { name: 'other plain root', make: async (id) => (await offer(w, id, { body: { plainRoot: 'cd'.repeat(32) } })).message },
      { name: 'other size', make: async (id) => (await offer(w, id, { body: { size: FILE_SIZE + 1 } })).message },
      { name: 'other buyer', make: async (id) => (await offer(w, id, { body: { buyer: 'carol' } })).message },
      { name: 'other path', make: async (id) => (await offer(w, id, { body: { path: '/free.txt' } })).message },
      { name: 'key does not hash to keyHash', make: async (id) => ({ ...(await offer(w, id)).message, key: randomBytes(32).toString('hex') }) },
      { name: 'not an offer', make: async (id) => { const m = (await offer(w, id)).message; return { ...m, offer: signStatement('acceptance', m.offer.body, w.aliceKey) }; } },
    ];
    for (const { name, make } of cases) {
      const sale = await buy(w);
      await w.escrow.offered(fromSeller(w), await make(sale.id));
      expect({ name, ...(await w.escrow.get(w.bob, sale.id)) }).toMatchObject({ name, state: 'failed', reason: 'bad offer' });
    }
    // Carol's tunnel cannot offer Alice's sale, even with Alice's signed offer.
    const sale = await buy(w);
    const made = await offer(w, sale.id);
    await w.escrow.offered(fromSeller(w, w.carol), made.message);
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('offering');
    await w.escrow.declined({ accountId: w.carol.id }, { type: 'saleDeclined', saleId: sale.id, reason: 'changed' });
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('offering');
    await w.escrow.declined({ accountId: w.alice.id }, { type: 'saleDeclined', saleId: sale.id, reason: 'changed' });
    expect(await w.escrow.get(w.bob, sale.id)).toMatchObject({ state: 'failed', reason: 'declined' });
    // A late offer for a failed sale changes nothing.
    await w.escrow.offered(fromSeller(w), made.message);
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('failed');
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000, held: 0 });
    await expectBooksBalance(w);
  });

  test('an offer when the buyer spent the credits meanwhile fails the sale (insufficient credits)', async () => {
    const w = await setUp();
    const sale = await buy(w);
    await w.books.move({ actor: `member:${w.bob.id}`, idempotencyKey: 'spend-all', kind: 'send', from: { member: w.bob.id }, to: { member: w.carol.id }, amount: 1000 });
    await w.escrow.offered(fromSeller(w), (await offer(w, sale.id)).message);
    expect(await w.escrow.get(w.bob, sale.id)).toMatchObject({ state: 'failed', reason: 'insufficient credits' });
    await expectBooksBalance(w);
  });

  test('accept refusals: not the buyer, wrong state, bad signature, another key, another offer, mismatching cipher root (state unchanged); a repeat answers the same', async () => {
    const w = await setUp();
    const offering = await buy(w);
    const early = await offer(w, offering.id);
    expect((await rejection(w.escrow.accept(w.bob, offering.id, acceptance(w, offering.id, early.message)))).code).toBe('sale_state');

    const { sale, message } = await reserved(w);
    expect((await rejection(w.escrow.accept(w.alice, sale.id, acceptance(w, sale.id, message)))).code).toBe('forbidden');
    expect((await rejection(w.escrow.accept(w.carol, sale.id, acceptance(w, sale.id, message)))).code).toBe('not_found');
    expect((await rejection(w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, message, {}, w.carolKey)))).code).toBe('forbidden');
    const forged = { ...acceptance(w, sale.id, message), signature: acceptance(w, sale.id, message, { acceptedAt: 1 }).signature };
    expect((await rejection(w.escrow.accept(w.bob, sale.id, forged))).code).toBe('forbidden');
    expect((await rejection(w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, message, { offerSignature: early.message.offer.signature })))).code).toBe('bad_request');
    expect((await rejection(w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, message, { saleId: offering.id })))).code).toBe('bad_request');
    expect(await rejection(w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, message, { cipherRoot: 'ee'.repeat(32) })))).toMatchObject({ code: 'hash_mismatch', message: expect.stringContaining('nothing was paid') });
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('reserved');
    await expectBooksBalance(w);

    const good = acceptance(w, sale.id, message);
    const [one, two] = await Promise.all([w.escrow.accept(w.bob, sale.id, good), w.escrow.accept(w.bob, sale.id, good)]);
    expect(two).toEqual(one);
    expect(await w.escrow.accept(w.bob, sale.id, good)).toEqual(one);
    expect(await w.books.balances(w.alice.id)).toEqual({ available: 0, held: PRICE });
    await expectBooksBalance(w);
  });

  test('cancel: offering → failed, reserved → refunded with the credits back; repeat answers the same; released cannot be cancelled', async () => {
    const w = await setUp();
    const offering = await buy(w);
    expect(await w.escrow.cancel(w.bob, offering.id)).toMatchObject({ state: 'failed', reason: 'cancelled' });
    expect(await w.escrow.cancel(w.bob, offering.id)).toMatchObject({ state: 'failed', reason: 'cancelled' });
    const { sale } = await reserved(w);
    expect((await rejection(w.escrow.cancel(w.alice, sale.id))).code).toBe('forbidden');
    expect(await w.escrow.cancel(w.bob, sale.id)).toMatchObject({ state: 'refunded', reason: 'cancelled' });
    expect(await w.escrow.cancel(w.bob, sale.id)).toMatchObject({ state: 'refunded', reason: 'cancelled' });
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000, held: 0 });
    expect(w.sent.filter((m) => m.type === 'saleClosed')).toEqual([
      { type: 'saleClosed', saleId: offering.id, state: 'failed' },
      { type: 'saleClosed', saleId: sale.id, state: 'refunded' },
    ]);
    const done = await released(w);
    expect((await rejection(w.escrow.cancel(w.bob, done.sale.id))).code).toBe('sale_state');
    await expectBooksBalance(w);
  });

  test('timeouts through the sweeper: offering → failed, reserved → refunded; accept after the deadline is refused', async () => {
    const w = await setUp({ clock: true });
    const offering = await buy(w);
    const { sale, message } = await reserved(w);
    w.clock.now += 60_000;
    expect((await rejection(w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, message)))).code).toBe('sale_state');
    expect(await w.escrow.sweep()).toBe(2);
    expect(await w.escrow.get(w.bob, offering.id)).toMatchObject({ state: 'failed', reason: 'offer timeout' });
    expect(await w.escrow.get(w.bob, sale.id)).toMatchObject({ state: 'refunded', reason: 'sale timeout' });
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000, held: 0 });
    expect(await w.escrow.sweep()).toBe(0);
    await expectBooksBalance(w);
  });

  test('the sweeper on a timer with a short timeout refunds a reserved sale; two sweepers on one database move it once', async () => {
    const w = await setUp();
    w.settings.saleTimeoutMs = 300;
    const { sale } = await reserved(w);
    const other = new Escrow({ sales: w.sales, files: createSearchIndex(w.store), books: w.books, ledger: w.ledger, keys: openSigningKeyStore(w.store), sellers: () => null, settings: () => w.settings, urls: new PublicUrls('example.net', 80), logger });
    const sweepers = [new SaleSweeper(w.escrow, logger, 50), new SaleSweeper(other, logger, 50)];
    open.push(...sweepers);
    await eventually('the sale refunded', async () => ((await w.escrow.get(w.bob, sale.id)).state === 'refunded' ? true : undefined));
    const movements = await storeDatabase(w.store).prisma.creditMovement.findMany({ where: { saleId: sale.id } });
    expect(movements.map((m) => m.kind).sort()).toEqual(['refund', 'reserve']);
    expect((await saleEntries(w, sale.id)).map((entry) => entry.state)).toEqual(['reserved', 'refunded']);
    await expectBooksBalance(w);
  });

  test('an idle sweeper sleeps until the earliest deadline: a sale set to time out is refunded at its deadline, though the longest sleep is a minute', async () => {
    const w = await setUp();
    const sweeper = new SaleSweeper(w.escrow, logger, 60_000);
    open.push(sweeper);
    await eventually('the first round to arm the next', () => (Number.isFinite(sweeper.nextRoundAt) ? true : undefined));
    // Nothing open: it sleeps the longest interval, no query a second.
    expect(sweeper.nextRoundAt).toBeGreaterThan(Date.now() + 30_000);
    // Long enough to look at the armed timer before it fires, even on a loaded machine.
    w.settings.saleTimeoutMs = 2_000;
    const { sale } = await reserved(w);
    const armed = sweeper.nextRoundAt;
    // Reserving wrote the sale's deadline, which re-armed the sweeper for it.
    expect(armed).toBe((await w.sales.get(sale.id))!.deadline + 1);
    await eventually('the sale refunded', async () => ((await w.escrow.get(w.bob, sale.id)).state === 'refunded' ? true : undefined));
    // Then back to sleep until the next open sale's deadline (none: the longest interval).
    await eventually('the sweeper to sleep again', () => (sweeper.nextRoundAt > Date.now() + 30_000 ? true : undefined));
    await expectBooksBalance(w);
  });

  test("a sale this edge was not told about (another edge's, on the same database) is ended within the longest sleep", async () => {
    const w = await setUp();
    w.settings.saleTimeoutMs = 300;
    // Another edge: its own sale store, so deadlines written here are not told to it.
    const otherEdge = new Escrow({ sales: new SaleStore(w.store), files: createSearchIndex(w.store), books: w.books, ledger: w.ledger, keys: openSigningKeyStore(w.store), sellers: () => null, settings: () => w.settings, urls: new PublicUrls('example.net', 80), logger });
    const sweeper = new SaleSweeper(otherEdge, logger, 200);
    open.push(sweeper);
    const { sale } = await reserved(w);
    await eventually('the sale refunded by the other edge', async () => ((await w.escrow.get(w.bob, sale.id)).state === 'refunded' ? true : undefined));
    await expectBooksBalance(w);
  });

  test('a seller that encrypted another file is refunded after a proof (tag fine, plaintext differs), and marked in the ledger', async () => {
    const w = await setUp();
    // The offer claims the listing's plain root but seals a different file.
    const { sale, key, sealed } = await released(w, { file: otherFile });
    expect(await w.books.balances(w.alice.id)).toEqual({ available: 0, held: PRICE });
    const count = chunkCount(FILE_SIZE);
    const index = 1;
    const otherPlain = fs.readFileSync(otherFile).subarray(index * CHUNK_BYTES, index * CHUNK_BYTES + plainChunkLength(FILE_SIZE, index));
    const proof: SaleProof = {
      index,
      cipherChunk: sealChunk(key, sale.id, index, count, otherPlain).toString('base64'),
      cipherPath: inclusionProof(sealed.cipherLeaves, index).map((hash) => hash.toString('hex')),
      plainLeaf: listed.leaves[index]!.toString('hex'),
      plainPath: inclusionProof(listed.leaves, index).map((hash) => hash.toString('hex')),
    };
    expect((await rejection(w.escrow.dispute(w.alice, sale.id, proof))).code).toBe('forbidden');
    expect(await w.escrow.dispute(w.bob, sale.id, proof)).toMatchObject({ state: 'refunded', reason: 'proof upheld' });
    expect(await w.escrow.dispute(w.bob, sale.id, proof)).toMatchObject({ state: 'refunded', reason: 'proof upheld' });
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000, held: 0 });
    expect(await w.books.balances(w.alice.id)).toEqual({ available: 0, held: 0 });
    expect((await saleEntries(w, sale.id)).map((entry) => [entry.state, entry.reason])).toEqual([['reserved', null], ['released', null], ['refunded', 'proof upheld']]);
    expect(w.sent.at(-1)).toEqual({ type: 'saleClosed', saleId: sale.id, state: 'refunded' });
    // Nothing left to settle.
    expect(await w.escrow.sweep()).toBe(0);
    await expectBooksBalance(w);
  });

  test('a seller whose chunk does not decrypt (sealed with another key) is refunded after a proof', async () => {
    const w = await setUp();
    const sale = await buy(w);
    const realKey = randomBytes(32);
    const wrongKey = randomBytes(32);
    // Sealed under one key, offered with another (whose hash the offer carries).
    const sealed = await commitSealed(listedFile, wrongKey, sale.id);
    const made = await offer(w, sale.id, { key: realKey, body: { cipherRoot: sealed.cipherRoot } });
    await w.escrow.offered(fromSeller(w), made.message);
    await w.escrow.accept(w.bob, sale.id, acceptance(w, sale.id, made.message));
    const count = chunkCount(FILE_SIZE);
    const chunk = sealChunk(wrongKey, sale.id, 2, count, fs.readFileSync(listedFile).subarray(2 * CHUNK_BYTES));
    const proof: SaleProof = {
      index: 2, cipherChunk: chunk.toString('base64'),
      cipherPath: inclusionProof(sealed.cipherLeaves, 2).map((hash) => hash.toString('hex')),
      plainLeaf: listed.leaves[2]!.toString('hex'), plainPath: inclusionProof(listed.leaves, 2).map((hash) => hash.toString('hex')),
    };
    expect(await w.escrow.dispute(w.bob, sale.id, proof)).toMatchObject({ state: 'refunded', reason: 'proof upheld' });
    await expectBooksBalance(w);
  });

  test('a lying buyer\'s proofs against an honest seller are all rejected and change nothing: valid chunk, altered chunk, wrong index, path of another leaf, another leaf, garbage', async () => {
    const w = await setUp({ clock: true });
    const { sale, key, sealed } = await released(w);
    const count = chunkCount(FILE_SIZE);
    const plain = fs.readFileSync(listedFile);
    const chunkAt = (index: number) => sealChunk(key, sale.id, index, count, plain.subarray(index * CHUNK_BYTES, index * CHUNK_BYTES + plainChunkLength(FILE_SIZE, index)));
    const hex = (hashes: Buffer[]) => hashes.map((hash) => hash.toString('hex'));
    const honest = (index: number): SaleProof => ({
      index, cipherChunk: chunkAt(index).toString('base64'), cipherPath: hex(inclusionProof(sealed.cipherLeaves, index)),
      plainLeaf: listed.leaves[index]!.toString('hex'), plainPath: hex(inclusionProof(listed.leaves, index)),
    });
    const altered = chunkAt(0);
    altered[10] = altered[10]! ^ 1;
    const lies: Array<[string, SaleProof]> = [
      ['a valid chunk', honest(0)],
      ['the last, short chunk', honest(2)],
      ['an altered chunk', { ...honest(0), cipherChunk: altered.toString('base64') }],
      ['a wrong index', { ...honest(0), index: 1 }],
      ['an index past the end', { ...honest(0), index: count }],
      ['the path of another leaf', { ...honest(0), cipherPath: hex(inclusionProof(sealed.cipherLeaves, 1)) }],
      ['another plain leaf', { ...honest(0), plainLeaf: 'ab'.repeat(32) }],
      ['the plain path of another leaf', { ...honest(0), plainPath: hex(inclusionProof(listed.leaves, 1)) }],
      ['another chunk at this index', { ...honest(0), cipherChunk: chunkAt(1).toString('base64') }],
      ['an empty chunk and paths', { index: 0, cipherChunk: '', cipherPath: [], plainLeaf: '00'.repeat(32), plainPath: [] }],
      ['not base64', { ...honest(0), cipherChunk: '!!!!' }],
    ];
    for (const [name, proof] of lies) {
      const refused = await rejection(w.escrow.dispute(w.bob, sale.id, proof));
      expect({ name, code: refused.code }).toEqual({ name, code: 'proof_rejected' });
    }
    expect((await w.escrow.get(w.bob, sale.id)).state).toBe('released');
    expect(await w.books.balances(w.alice.id)).toEqual({ available: 0, held: PRICE });
    // After the window: no dispute at all, and the seller is paid.
    w.clock.now += w.settings.disputeWindowMs;
    expect((await rejection(w.escrow.dispute(w.bob, sale.id, honest(0)))).code).toBe('sale_state');
    expect(await w.escrow.sweep()).toBe(1);
    expect(await w.books.balances(w.alice.id)).toEqual({ available: PRICE, held: 0 });
    await expectBooksBalance(w);
  });

  test('a relisted share gets its offering and reserved sales requested again, not the others', async () => {
    const w = await setUp();
    const offering = await buy(w);
    const { sale } = await reserved(w);
    const done = await released(w);
    w.sent.length = 0;
    expect(await w.escrow.shareListed(w.alice.id, SHARE)).toBe(2);
    expect(w.sent.map((m) => m.saleId).sort()).toEqual([offering.id, sale.id].sort());
    expect(w.sent.every((m) => m.type === 'saleRequested')).toBe(true);
    expect(await w.escrow.shareListed(w.carol.id, SHARE)).toBe(0);
    expect(done.sale.id).not.toBe(sale.id);
  });

  test('two edges on one database: a purchase made on the edge without the seller\'s tunnel is offered through the edge that has it', async () => {
    const w = await setUp();
    const elsewhere = new Escrow({ sales: w.sales, files: createSearchIndex(w.store), books: w.books, ledger: w.ledger, keys: openSigningKeyStore(w.store), sellers: () => null, settings: () => w.settings, urls: new PublicUrls('example.net', 80), logger });
    const sale = await elsewhere.request(w.bob, { url, maxPrice: 100, idempotencyKey: 'on-the-other-edge' }, target);
    expect(sale.state).toBe('offering');
    expect(w.sent).toEqual([]);
    expect(await w.escrow.requestPending()).toBe(1);
    expect(await w.escrow.requestPending()).toBe(0);
    expect(w.sent).toEqual([expect.objectContaining({ type: 'saleRequested', saleId: sale.id })]);
    await w.escrow.offered(fromSeller(w), (await offer(w, sale.id)).message);
    expect((await elsewhere.get(w.bob, sale.id)).state).toBe('reserved');
    // With the share offline in the index too, a purchase fails at once.
    await createSearchIndex(w.store).setOnline(SHARE, false);
    expect((await rejection(elsewhere.request(w.bob, { url, maxPrice: 100, idempotencyKey: 'nobody-serves-it' }, target))).code).toBe('sale_state');
    await expectBooksBalance(w);
  });

  test('list and long-poll views: buyer and seller see the sale, others do not', async () => {
    const w = await setUp();
    const { sale } = await reserved(w);
    expect((await w.escrow.list(w.bob, 'bought', 10)).map((s) => s.id)).toEqual([sale.id]);
    expect((await w.escrow.list(w.alice, 'sold', 10)).map((s) => s.id)).toEqual([sale.id]);
    expect(await w.escrow.list(w.carol, 'all', 10)).toEqual([]);
    expect(await w.escrow.stateOf(w.carol, sale.id)).toBeNull();
    expect((await w.escrow.get(w.alice, sale.id)).offer?.kind).toBe('offer');
  });

  test('one buyer may have 4 purchases of a share waiting at once (each costs the seller a sealing); a cancel makes room', async () => {
    const w = await setUp();
    const waiting = [];
    for (let i = 0; i < MAX_OPEN_PURCHASES_PER_SHARE; i++) waiting.push(await buy(w));
    expect(await rejection(buy(w))).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('finish or cancel one') });
    // The same key again is still the same sale, not a fifth.
    expect((await buy(w, w.bob, { idempotencyKey: (await w.sales.get(waiting[0]!.id))!.buyerKey })).id).toBe(waiting[0]!.id);
    await w.escrow.cancel(w.bob, waiting[0]!.id);
    expect((await buy(w)).state).toBe('offering');
    await expectBooksBalance(w);
  });

  test('sales open when the seller went away end by their deadlines, also after it comes back and re-lists; the buyer\'s open count returns to 0', async () => {
    const w = await setUp({ clock: true });
    // Two sales reserved (offered before the seller went away), two still waiting for an offer.
    const first = [await buy(w), await buy(w)];
    for (const sale of first) await w.escrow.offered(fromSeller(w), (await offer(w, sale.id)).message);
    const waiting = [await buy(w), await buy(w)];
    expect((await Promise.all([...first, ...waiting].map((sale) => w.sales.get(sale.id)))).map((sale) => sale!.state)).toEqual(['reserved', 'reserved', 'offering', 'offering']);
    expect(await rejection(buy(w))).toMatchObject({ code: 'rate_limited' });

    // The seller's agent dies; every deadline passes (the sweeper has not come round yet).
    w.seller.online = false;
    w.clock.now += Math.max(w.settings.offerTimeoutMs, w.settings.saleTimeoutMs) + 1;
    // The restarted agent lists the share again and answers whatever it is sent.
    w.seller.online = true;
    w.sent.length = 0;
    await w.escrow.shareListed(w.alice.id, SHARE);
    for (const sale of [...first, ...waiting]) await w.escrow.offered(fromSeller(w), (await offer(w, sale.id)).message);
    // No sale past its deadline was asked for again, and none was reserved by a late offer.
    for (const sale of waiting) expect((await w.sales.get(sale.id))!.state).not.toBe('reserved');
    expect(w.sent.filter((message) => message.type === 'saleRequested')).toEqual([]);
    // Nothing past its deadline counts against the buyer, swept or not: a new purchase goes through.
    expect((await buy(w)).state).toBe('offering');

    // The sweeper ends the rest.
    await w.escrow.sweep();
    const ended = await Promise.all([...first, ...waiting].map(async (sale) => (await w.sales.get(sale.id))!));
    expect(ended.map((sale) => [sale.state, sale.reason])).toEqual([
      ['refunded', 'sale timeout'], ['refunded', 'sale timeout'], ['failed', 'offer timeout'], ['failed', 'offer timeout'],
    ]);
    expect(await w.sales.openCount(w.bob.id, SHARE, w.clock.now)).toBe(1);
    await expectBooksBalance(w);
  });

  test('one sweep ends sales of every state together (one transaction per batch): each moves once, with its movement, entry and saleClosed', async () => {
    const w = await setUp({ clock: true });
    const settledOnes = [await released(w), await released(w)].map((done) => done.sale);
    const refundedOnes = [(await reserved(w)).sale, (await reserved(w)).sale];
    const failedOnes = [await buy(w), await buy(w)];
    const cancelled = refundedOnes[1]!;
    await w.escrow.cancel(w.bob, cancelled.id);
    w.clock.now += Math.max(w.settings.offerTimeoutMs, w.settings.saleTimeoutMs, w.settings.disputeWindowMs) + 1;
    w.sent.length = 0;
    expect(await w.escrow.sweep()).toBe(5);
    const states = async (sales: Array<{ id: string }>) => Promise.all(sales.map(async (sale) => { const row = (await w.sales.get(sale.id))!; return [row.state, row.reason]; }));
    expect(await states(settledOnes)).toEqual([['settled', null], ['settled', null]]);
    expect(await states(refundedOnes)).toEqual([['refunded', 'sale timeout'], ['refunded', 'cancelled']]);
    expect(await states(failedOnes)).toEqual([['failed', 'offer timeout'], ['failed', 'offer timeout']]);
    expect(w.sent.map((message) => message.type === 'saleClosed' ? message.saleId : '').sort()).toEqual([...settledOnes, refundedOnes[0]!, ...failedOnes].map((sale) => sale.id).sort());
    for (const sale of [...settledOnes, refundedOnes[0]!, ...failedOnes]) expect((await saleEntries(w, sale.id)).at(-1)!.state).toBe((await w.sales.get(sale.id))!.state);
    expect(await w.books.balances(w.bob.id)).toEqual({ available: 1000 - 2 * PRICE, held: 0 });
    expect(await w.books.balances(w.alice.id)).toEqual({ available: 2 * PRICE, held: 0 });
    expect(await w.escrow.sweep()).toBe(0);
    await expectBooksBalance(w);
  });

  test('concurrent purchases by many buyers: every one reserved or refused for credits, the books balance', async () => {
    const w = await setUp();
    const buyers = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const account = (await w.store.createAccount(`buyer-${i}`)).account;
      const pair = generateSigningKey();
      await openSigningKeyStore(w.store).register(account, pair.publicKey);
      await w.books.move({ actor: 'operator', idempotencyKey: `grant-buyer-${i}`, kind: 'grant', from: 'issuance', to: { member: account.id }, amount: PRICE * 2 });
      return account;
    }));
    const sales = await Promise.all(buyers.flatMap((buyer) => [0, 1, 2].map((n) => buy(w, buyer, { idempotencyKey: `many-${buyer.id}-${n}` }))));
    await Promise.all(sales.map(async (sale) => {
      const made = await offer(w, sale.id, { body: { buyer: sale.buyer } });
      await w.escrow.offered(fromSeller(w), made.message);
    }));
    const states = await Promise.all(sales.map(async (sale) => (await w.escrow.get(w.alice, sale.id))));
    // Each buyer could pay two of its three.
    for (const buyer of buyers) {
      const mine = states.filter((s) => s.buyer === buyer.name);
      expect(mine.filter((s) => s.state === 'reserved')).toHaveLength(2);
      expect(mine.filter((s) => s.state === 'failed' && s.reason === 'insufficient credits')).toHaveLength(1);
    }
    await expectBooksBalance(w);
  });
});
