import crypto from 'node:crypto';
import pino from 'pino';
import { expect, test } from 'vitest';
import { RatingEntryBody } from '../../protocol/ledger.js';
import { openAccountStore, storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { openCreditBook } from '../ledger/credit-book.js';
import { openLedgerLog, type LedgerLog } from '../ledger/ledger-log.js';
import { findPostgresBinaries, rejection, requirePostgresInCi, describeOnDatabases } from '../../test/helpers/test-databases.js';
import { openRatingStore, type RatingStore } from './rating-store.js';
import { refreshTrustScores, startTrustRefresh } from './trust-refresh.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);
const logger = pino({ level: 'silent' });

describeOnDatabases('ratings on %s', ({ backend, open }) => {

  async function setUp(): Promise<{ store: AccountStore; ledger: LedgerLog; ratings: RatingStore; buyer: number; seller: number; other: number; sale: (state: string, buyerId?: number, reason?: string) => Promise<string> }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger });
    open.push(ledger);
    const buyer = (await store.createAccount('bea')).account.id;
    const seller = (await store.createAccount('sam')).account.id;
    const other = (await store.createAccount('olga')).account.id;
    const { prisma } = storeDatabase(store);
    // Sale rows as the escrow leaves them (server/exchange/): only their state matters here.
    const sale = async (state: string, buyerId = buyer, reason?: string): Promise<string> => {
      const id = crypto.randomBytes(16).toString('hex');
      const now = new Date();
      await prisma.sale.create({
        data: {
          id, buyerId, sellerId: seller, buyerKey: `key-${id}`, share: 'sam-talks', path: '/a.pdf', price: 50n, size: 1000n,
          plainSha256: 'a'.repeat(64), plainRoot: 'b'.repeat(64), state, reason: reason ?? null, deadline: 0n, createdAt: now, updatedAt: now,
        },
      });
      return id;
    };
    return { store, ledger, ratings: openRatingStore(storeDatabase(store), ledger), buyer, seller, other, sale };
  }

  test('the buyer of a released or settled sale rates it once; the rating is a ledger entry in the same transaction', async () => {
    const { store, ledger, ratings, buyer, seller, sale } = await setUp();
    const released = await sale('released');
    const settled = await sale('settled');
    const before = await ledger.size();
    const view = await ratings.rate({ saleId: released, raterId: buyer, score: 5, comment: '  great talk, thanks  ' });
    expect(view).toEqual({ saleId: released, rater: 'bea', seller: 'sam', score: 5, comment: 'great talk, thanks', createdAt: expect.any(String), created: true });
    expect(await ledger.size()).toBe(before + 1);
    const [entry] = await ledger.entriesOf(seller, { after: before - 1, limit: 10 });
    const body = RatingEntryBody.parse(JSON.parse(entry!.body));
    expect(body).toMatchObject({ kind: 'rating', saleId: released, rater: buyer, seller, score: 5, comment: 'great talk, thanks' });
    expect((await ledger.entriesOf(buyer, { after: before - 1, limit: 10 })).map((e) => e.seq)).toEqual([entry!.seq]);

    // The same rating again is the stored one (a retried request), with no second entry.
    expect(await ratings.rate({ saleId: released, raterId: buyer, score: 5, comment: 'great talk, thanks' })).toMatchObject({ created: false, score: 5 });
    expect(await ledger.size()).toBe(before + 1);
    expect(await rejection(ratings.rate({ saleId: released, raterId: buyer, score: 1 }))).toMatchObject({ code: 'sale_state', message: expect.stringContaining('already rated') });

    await ratings.rate({ saleId: settled, raterId: buyer, score: 2 });
    expect((await ratings.received(seller, 10)).map((r) => [r.rater, r.score, r.comment])).toEqual([['bea', 2, ''], ['bea', 5, 'great talk, thanks']]);
    expect(await storeDatabase(store).prisma.rating.count()).toBe(2);
  });

  test('only the buyer; only completed sales; score and comment are checked; nothing is written on a refusal', async () => {
    const { store, ledger, ratings, buyer, seller, other, sale } = await setUp();
    const released = await sale('released');
    const before = await ledger.size();
    expect(await rejection(ratings.rate({ saleId: released, raterId: seller, score: 5 }))).toMatchObject({ code: 'forbidden' });
    expect(await rejection(ratings.rate({ saleId: released, raterId: other, score: 5 }))).toMatchObject({ code: 'forbidden' });
    for (const state of ['offering', 'reserved', 'failed']) {
      expect(await rejection(ratings.rate({ saleId: await sale(state), raterId: buyer, score: 4 }))).toMatchObject({ code: 'sale_state', message: expect.stringContaining(`is ${state}`) });
    }
    expect(await rejection(ratings.rate({ saleId: await sale('refunded', buyer, 'proof upheld'), raterId: buyer, score: 1 }))).toMatchObject({ code: 'sale_state' });
    expect(await rejection(ratings.rate({ saleId: 'f'.repeat(32), raterId: buyer, score: 4 }))).toMatchObject({ code: 'not_found' });
    expect(await rejection(ratings.rate({ saleId: 'not-a-sale', raterId: buyer, score: 4 }))).toMatchObject({ code: 'bad_request' });
    for (const score of [0, 6, 2.5, Number.NaN]) expect(await rejection(ratings.rate({ saleId: released, raterId: buyer, score }))).toMatchObject({ code: 'bad_request' });
    expect(await rejection(ratings.rate({ saleId: released, raterId: buyer, score: 4, comment: 'x'.repeat(501) }))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('500') });
    expect(await rejection(ratings.rate({ saleId: released, raterId: buyer, score: 4, comment: 'line\nbreak' }))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('control') });
    expect(await rejection(ratings.rate({ saleId: released, raterId: buyer, score: 4, comment: 'bell\u0007' }))).toMatchObject({ code: 'bad_request' });
    expect(await ledger.size()).toBe(before);
    expect(await storeDatabase(store).prisma.rating.count()).toBe(0);
    // 500 characters (Hangul included) are fine.
    expect(await ratings.rate({ saleId: released, raterId: buyer, score: 4, comment: '좋'.repeat(500) })).toMatchObject({ created: true });
  });

  test('two concurrent ratings of one sale store one', async () => {
    const { store, ledger, ratings, buyer, sale } = await setUp();
    const released = await sale('released');
    const before = await ledger.size();
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((score) => ratings.rate({ saleId: released, raterId: buyer, score })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(await storeDatabase(store).prisma.rating.count()).toBe(1);
    expect(await ledger.size()).toBe(before + 1);
  });

  test('the refresh stores scores from the books: granted raters count, a refunded purchase\'s rating and a fresh account\'s do not', async () => {
    const { store, ledger, buyer, seller, other, sale } = await setUp();
    const db = storeDatabase(store);
    const book = openCreditBook(store, ledger);
    await book.move({ actor: 'operator', idempotencyKey: 'grant-bea-1', kind: 'grant', from: 'issuance', to: { member: buyer }, amount: 1000 });
    const refresher = startTrustRefresh(db, { logger, intervalMs: 3_600_000 });
    open.push(refresher);
    let onRated = 0;
    const ratings = openRatingStore(db, ledger, { onRated: () => { onRated++; } });
    expect(await refresher.trustOf(seller)).toEqual({ score: null, ratings: 0, disputesLost: 0 });

    await ratings.rate({ saleId: await sale('settled'), raterId: buyer, score: 5 });
    await ratings.rate({ saleId: await sale('settled', other), raterId: other, score: 5 });
    expect(onRated).toBe(2);
    await refresher.refresh();
    // bea was granted credits: one full voice, (3·5 + 5) / 6; olga was not: not counted.
    expect(await refresher.trustOf(seller)).toEqual({ score: 3.3, ratings: 1, disputesLost: 0 });

    // An upheld dispute: counted against the seller, and the rating of that purchase no longer is.
    const disputed = await sale('released');
    await ratings.rate({ saleId: disputed, raterId: buyer, score: 1 });
    await db.prisma.sale.update({ where: { id: disputed }, data: { state: 'refunded', reason: 'proof upheld' } });
    expect(await refreshTrustScores(db)).toBe(1);
    const row = await db.prisma.trustScore.findUnique({ where: { accountId: seller } });
    expect(row).toMatchObject({ ratings: 1, disputesLost: 1, weight: 1 });
    expect(row!.score).toBeCloseTo((15 + 5 + 2) / 8);
    expect(await refresher.trustOf(seller)).toEqual({ score: 2.8, ratings: 1, disputesLost: 1 });
  });
});
